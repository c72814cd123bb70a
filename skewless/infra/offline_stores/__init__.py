"""Feast's ``feast.infra.offline_stores`` module paths."""
