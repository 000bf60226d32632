"""Templates: message trees → canonical documents (`engine`), and documents → message segments
(`outbound`), with code lists."""

from gateway.mapping.engine import Problem, Template, TemplateError, base_template_names, load_template, version_matches
from gateway.mapping.outbound import (
    DocumentError, OutboundTemplate, load_outbound_template, outbound_template_names, render_document,
)

__all__ = ["DocumentError", "OutboundTemplate", "Problem", "Template", "TemplateError", "base_template_names",
           "load_outbound_template", "load_template", "outbound_template_names", "render_document",
           "version_matches"]
