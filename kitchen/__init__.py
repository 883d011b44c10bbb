"""kitchen: a kitchen display system for multi-brand delivery kitchens."""
