"""What the tests share: the real servers and services they start on free loopback ports
(the service itself, Redis, PostgreSQL, a scripted LLM, Enterprise Gateway, podman images,
the helm chart, a scaled-out deployment, relocated runtimes), clients for them (uploads,
Server-Sent Events) and waits on processes. Fixtures stay in the conftest.py files."""
