"""catalogctl.engine"""
