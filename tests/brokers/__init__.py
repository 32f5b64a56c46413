"""Test brokers that listen on 127.0.0.1 (programmable fault injection, openbrokerapi)."""
