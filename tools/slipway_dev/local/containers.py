"""Reaching the local cloud from a container (`sam local invoke`): which address to listen on, and which name the
container uses for it.

SAM CLI puts the function's container on Docker's bridge network whatever ``--docker-network host`` says (SAM CLI
1.170 never sets host network mode), so 127.0.0.1 inside it is the container itself:
- Docker Desktop (macOS, Windows) forwards ``host.docker.internal`` to the host's loopback: the cloud stays on
  127.0.0.1 and the env file says ``host.docker.internal``;
- Docker Engine on Linux has no such name by default: the cloud listens on the bridge's gateway address
  (``slipway local up --host docker-bridge``, e.g. 172.17.0.1), which both the host and the containers reach.
Nothing listens on a wildcard address: the local cloud has no authentication, so it stays on this machine.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from collections.abc import Mapping

DOCKER_DESKTOP_HOST = "host.docker.internal"
DOCKER_BRIDGE = "docker-bridge"  # --host value: the address of the docker0 interface
_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


class HostError(ValueError):
    """A --host value the local cloud refuses or cannot find."""


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def interface_ipv4(interface: str) -> str:
    """The IPv4 address of a network interface (Linux)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        packed = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, struct.pack("256s", interface[:15].encode()))
    return socket.inet_ntoa(packed[20:24])


def listen_address(host: str) -> str:
    """The address ``--host`` names: an IP of this machine, ``localhost`` or ``docker-bridge`` (docker0's)."""
    if host == DOCKER_BRIDGE:
        try:
            return interface_ipv4("docker0")
        except OSError as exc:
            raise HostError(
                "--host docker-bridge: this machine has no docker0 interface with an address (is dockerd running? "
                "On Docker Desktop leave --host out: containers reach 127.0.0.1 as host.docker.internal)"
            ) from exc
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError as exc:
        raise HostError(f"--host {host}: not an IP address (or `localhost`, or `docker-bridge`)") from exc
    if address.is_unspecified:
        raise HostError(
            f"--host {host} would expose the unauthenticated local cloud to every network this machine is on; "
            "pass the Docker bridge's address (--host docker-bridge) instead"
        )
    return str(address)


def container_host(host: str, override: str | None = None) -> str:
    """How a container names the address the cloud listens on."""
    if override:
        return override
    return DOCKER_DESKTOP_HOST if is_loopback(host) else host


def for_containers(environment: Mapping[str, str], host: str, seen_as: str) -> dict[str, str]:
    """A function's variables with every URL on ``host`` rewritten to ``seen_as`` (AWS_ENDPOINT_URL, Slack's)."""
    return {
        name: value.replace(f"://{host}:", f"://{seen_as}:") if "://" in value else value
        for name, value in environment.items()
    }
