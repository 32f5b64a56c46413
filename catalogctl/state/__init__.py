"""catalogctl.state"""
