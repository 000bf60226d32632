"""Templates: message trees → canonical documents, with code lists; see `engine` for the language."""

from gateway.mapping.engine import Problem, Template, TemplateError, base_template_names, load_template, version_matches

__all__ = ["Problem", "Template", "TemplateError", "base_template_names", "load_template", "version_matches"]
