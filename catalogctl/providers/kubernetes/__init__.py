"""catalogctl.providers.kubernetes"""
