"""Feast's ``feast.infra`` module paths, kept so that Feast repositories import unchanged."""
