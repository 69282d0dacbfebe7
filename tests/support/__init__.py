"""Helpers shared by the tests: fake upstreams, servers, browsers, database tools."""
