"""The FashionM3 agent: state, settings, nodes, planners, catalog, memory and CLI."""
