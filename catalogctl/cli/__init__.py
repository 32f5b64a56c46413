"""catalogctl.cli"""
