"""catalogctl.model"""
