"""catalogctl.providers.osb"""
