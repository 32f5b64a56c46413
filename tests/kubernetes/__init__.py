"""Tests of catalogctl.providers.kubernetes and the render command."""
