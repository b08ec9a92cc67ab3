"""STAND-IN for the kubelet's pod-resources gRPC service, for tests: no kubelet can run on the test machine.

It is a real grpcio server on a unix socket serving `v1.PodResourcesLister` through the vendored generated
servicer (oracle/measure/podresources_v1), so the oracle's client, channel, serialisation and timeouts run for
real; only the kubelet's answer is scripted here: a list of pods, an error status, or a call that hangs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import grpc

from oracle.measure.podresources_v1 import api_pb2, api_pb2_grpc

GPU = "nvidia.com/gpu"


def pod(namespace: str, name: str,
        containers: dict[str, Sequence[tuple[str, Sequence[str]]]]) -> api_pb2.PodResources:
    """A PodResources message: {container name: [(resource name, device IDs), ...]}."""
    return api_pb2.PodResources(
        namespace=namespace, name=name,
        containers=[api_pb2.ContainerResources(
            name=container, devices=[api_pb2.ContainerDevices(resource_name=r, device_ids=list(ids)) for r, ids in devs])
            for container, devs in containers.items()])


class StandInKubelet(api_pb2_grpc.PodResourcesListerServicer):
    """Answers List with `pods` (mode "answer"), aborts with PERMISSION_DENIED ("error") or blocks until the test
    ends ("hang"). Only List is implemented, as only List is called."""

    def __init__(self, pods: Sequence[api_pb2.PodResources] = (), mode: str = "answer") -> None:
        self.pods = list(pods)
        self.mode = mode
        self.calls = 0
        self.release = threading.Event()  # set at teardown so a hung call's thread ends

    def List(self, request: api_pb2.ListPodResourcesRequest,
             context: grpc.ServicerContext) -> api_pb2.ListPodResourcesResponse:
        self.calls += 1
        if self.mode == "error":
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "stand-in kubelet: permission denied")
        if self.mode == "hang":
            self.release.wait(30)
        return api_pb2.ListPodResourcesResponse(pod_resources=self.pods)


@contextmanager
def kubelet_server(socket_path: Path, servicer: StandInKubelet) -> Iterator[grpc.Server]:
    """Serve `servicer` on unix socket `socket_path`; stopped (and its socket removed) on exit."""
    executor = ThreadPoolExecutor(max_workers=4)
    server = grpc.server(executor)
    api_pb2_grpc.add_PodResourcesListerServicer_to_server(servicer, server)
    server.add_insecure_port(f"unix:{socket_path}")
    server.start()
    try:
        yield server
    finally:
        servicer.release.set()
        server.stop(grace=None).wait(5)
        executor.shutdown(wait=True)
        socket_path.unlink(missing_ok=True)
