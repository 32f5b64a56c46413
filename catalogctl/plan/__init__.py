"""catalogctl.plan"""
