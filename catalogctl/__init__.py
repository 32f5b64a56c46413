"""catalogctl: declarative plan/apply for Open Service Broker services on Kubernetes."""

__version__ = "0.1.0"
