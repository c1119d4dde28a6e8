"""Everything that needs a request: blueprints, forms, templates' filters, error pages."""
