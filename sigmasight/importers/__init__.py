"""Importers: validate user files (prices, rates, portfolio bundles) into plain records."""
