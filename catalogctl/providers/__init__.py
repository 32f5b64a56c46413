"""catalogctl.providers"""
