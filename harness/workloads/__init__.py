"""Workloads. Modules here other than ``loadgen`` and the Locust users must not import
locust, gevent, requests or boto3: they are imported by the CLI."""
