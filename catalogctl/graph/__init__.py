"""catalogctl.graph"""
