"""The ray backend on a real Ray cluster: two nodes on this machine (`ray start --head` and a second
`ray start --address`, each with one CPU and one fake GPU), the server in front of them as a studio
runs it (tokens for two users). Jobs from both users spread over the nodes, a job goes to the worker
that holds its model, a worker killed mid-job loses its job to the other, a cancel reaches across,
a model that does not load is said and not given to that worker again, and the server SIGKILLed
with the cluster up finishes its job once after the restart. The cluster is stopped at the end by
the process groups this file started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from harness import ServerProcess, inbetween_request, models_config
from inkmotion.client import Client
from inkmotion.codec.drawing import Drawing, Stroke
from inkmotion.codec.proto import drawing_to_proto
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import jobs_pb2, tasks_pb2

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
from inkmotion.backends.ray import LocalCluster  # noqa: E402

ANN, BOB = "ann-0123456789abcdef", "bob-0123456789abcdef"
SECONDS = 120  # the most any one wait here takes


@pytest.fixture(scope="module")
def cluster():
    nodes = [{"num_cpus": 1, "num_gpus": 1, "resources": {"node_a": 1}},
             {"num_cpus": 1, "num_gpus": 1, "resources": {"node_b": 1}}]
    with LocalCluster(nodes) as running:
        yield running


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_dir):
    folder = tmp_path_factory.mktemp("ray-server")
    tokens = folder / "tokens.txt"
    tokens.write_text(f"ann {ANN}\nbob {BOB}\n")
    tokens.chmod(0o600)
    broken = folder / "broken-model"
    broken.mkdir()
    (broken / "model_index.json").write_text("{}")
    config = models_config(folder / "models.toml", tiny_dir, {"tiny-a": "text_motion", "tiny-b": "text_motion"})
    with open(config, "a") as f:
        f.write(f'\n[models.broken]\nsource = "{broken}"\ntasks = ["text_motion"]\n')
    return folder, tokens, {"INKMOTION_MODELS": str(config), "HF_HUB_CACHE": str(folder / "hub")}


def start_server(setup, cluster, data: str = "data") -> ServerProcess:
    folder, tokens, env = setup
    # --device auto: a worker per GPU of the cluster (fake ones here), each on the CPU inside.
    return ServerProcess(folder / data, "--backend", "ray", "--ray-address", cluster.address, "--token-file", str(tokens),
                         "--device", "auto", env=env)


@pytest.fixture(scope="module")
def server(setup, cluster):
    with start_server(setup, cluster) as proc:
        wait_for(lambda: len(idle(proc)) == 2, "both workers to start")
        yield proc


def idle(proc) -> list:
    with Client(proc.address, token=ANN) as c:
        return [w for w in c.capabilities().workers if w.state == service_pb2.WORKER_STATE_IDLE]


def wait_for(condition, what: str, seconds: float = SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")


def sketch() -> Drawing:
    points = np.array([[40, 40], [120, 40], [120, 120], [40, 120]], np.float32)
    return Drawing(256, 256, [Stroke(points=points, radii=np.ones(4, np.float32), opacities=np.ones(4, np.float32))])


def text_job(model: str, steps: int = 2) -> tasks_pb2.TextMotionRequest:
    return tasks_pb2.TextMotionRequest(sketch=drawing_to_proto(sketch()), prompt="it moves", model=model, frames=2,
                                       steps=steps)


DONE = (jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED,
        jobs_pb2.JOB_STATE_INTERRUPTED)


def ended(client, job_id: str) -> jobs_pb2.Job:
    """The job once it has ended (within SECONDS)."""
    return wait_for(lambda: (j := client.job(job_id)).state in DONE and j, f"job {job_id} to end")


def running_on(client, job_id: str) -> jobs_pb2.Job:
    return wait_for(lambda: (j := client.job(job_id)).state == jobs_pb2.JOB_STATE_RUNNING and j.step > 0 and j,
                    f"job {job_id} to run a step")


def test_the_workers_are_the_clusters_gpus(server):
    with Client(server.address, token=ANN) as client:
        caps = client.capabilities()
    assert caps.backend == "ray" and len(caps.workers) == 2
    assert len({w.node for w in caps.workers}) == 2, "one worker on each node"
    assert all(w.device.name == "cpu" for w in caps.workers), "fake GPUs: placed as GPU work, run on the CPU"
    assert all(w.detail.startswith("pid ") for w in caps.workers)
    run = subprocess.run([sys.executable, "-m", "inkmotion.cli", "cluster", "--server", server.address, "--token", ANN],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "ray backend, 2 worker(s)" in run.stdout, run.stdout + run.stderr
    assert run.stdout.count(" idle ") == 2, run.stdout


def test_jobs_from_two_users_spread_over_both_nodes_and_keep_to_their_models(server):
    with Client(server.address, token=ANN) as ann, Client(server.address, token=BOB) as bob:
        first = ended(ann, ann.submit(text_job("tiny-a")).id)
        second = ended(bob, bob.submit(text_job("tiny-b")).id)
        assert first.state == second.state == jobs_pb2.JOB_STATE_SUCCEEDED, (first.error, second.error)
        assert first.device != second.device, "tiny-b went to the worker holding nothing, not tiny-a's"
        # Both free now: each model goes back to the worker that holds it.
        again = [ann.submit(text_job("tiny-a")), bob.submit(text_job("tiny-b"))]
        done = [ended(ann if i == 0 else bob, job.id) for i, job in enumerate(again)]
        assert [j.state for j in done] == [jobs_pb2.JOB_STATE_SUCCEEDED] * 2
        assert [j.device for j in done] == [first.device, second.device], "model affinity"
        # A burst from both users: both nodes work, every job succeeds.
        burst = [c.submit(text_job(m)) for c, m in [(ann, "tiny-a"), (bob, "tiny-b")] * 3]
        finals = [ended(ann if i % 2 == 0 else bob, j.id) for i, j in enumerate(burst)]
        assert all(j.state == jobs_pb2.JOB_STATE_SUCCEEDED for j in finals), [j.error for j in finals]
        assert len({j.device for j in finals}) == 2
        workers = {w.name: w for w in ann.capabilities().workers}
    assert "tiny-a" in workers[first.device].models and "tiny-b" in workers[second.device].models


def test_a_cancel_reaches_the_job_on_its_worker(server):
    with Client(server.address, token=ANN) as client:
        job = client.submit(text_job("tiny-a", steps=5000))
        running_on(client, job.id)
        asked = time.monotonic()
        client.cancel(job.id)
        final = ended(client, job.id)
        assert final.state == jobs_pb2.JOB_STATE_CANCELLED
        assert time.monotonic() - asked < 10, "within a step or two"
        wait_for(lambda: len(idle(server)) == 2, "the worker to be free again", 30)


def test_a_model_that_does_not_load_is_said_and_not_given_to_that_worker_again(server):
    with Client(server.address, token=BOB) as client:
        first = ended(client, client.submit(text_job("broken")).id)
        assert first.state == jobs_pb2.JOB_STATE_FAILED and "broken" in first.error, first.error
        second = ended(client, client.submit(text_job("broken")).id)
        assert second.state == jobs_pb2.JOB_STATE_FAILED and second.device != first.device, "the other worker tried"
        third = ended(client, client.submit(text_job("broken")).id)
        assert third.state == jobs_pb2.JOB_STATE_FAILED and "no worker can load model 'broken'" in third.error
        ok = ended(client, client.submit(text_job("tiny-a")).id)
        assert ok.state == jobs_pb2.JOB_STATE_SUCCEEDED, "the workers still take other models"


def test_a_worker_killed_mid_job_loses_the_job_to_the_other(server):
    with Client(server.address, token=ANN) as client:
        job = client.submit(text_job("tiny-a", steps=40))
        running = running_on(client, job.id)
        [worker] = [w for w in client.capabilities().workers if w.name == running.device]
        os.kill(int(worker.detail.split()[1]), signal.SIGKILL)
        final = ended(client, job.id)
        assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
        assert final.attempts == 2 and final.device != running.device
        assert len(client.result(job.id).keyframes) == 2
        states = {w.name: w.state for w in client.capabilities().workers}
        assert states[running.device] == service_pb2.WORKER_STATE_LOST
        # A new worker takes the lost one's place on the freed GPU.
        wait_for(lambda: len(idle(server)) == 2, "a replacement worker", 60)


def test_the_server_sigkilled_with_the_cluster_up_runs_its_job_once_after_the_restart(server):
    with Client(server.address, token=ANN) as client:
        job = client.submit(text_job("tiny-a", steps=30))
        running_on(client, job.id)
    server.kill()  # SIGKILL: its actors die with it (Ray ends an actor with its owner)
    server.start()  # the same job store, the cluster still up
    with Client(server.address, token=ANN) as client:
        back = client.job(job.id)
        assert back.attempts == 1 and back.state in (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING)
        final = ended(client, job.id)
        assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED and final.attempts == 2, final.error
        assert len(client.result(job.id).keyframes) == 2
        assert [j.id for j in client.jobs()].count(job.id) == 1, "one job, finished once"
        wait_for(lambda: len(idle(server)) == 2, "the new server's workers")


def test_a_node_stopped_mid_job_loses_the_job_to_the_other_node(server, cluster):
    """Stops the second node (the head's going is the cluster's: the next test), and starts it again."""
    with Client(server.address, token=ANN) as client:
        wait_for(lambda: len(idle(server)) == 2, "both workers")
        jobs = [client.submit(text_job("tiny-a", steps=40)), client.submit(text_job("tiny-b", steps=40))]
        running = [running_on(client, j.id) for j in jobs]
        nodes = {w.name: w.node for w in client.capabilities().workers}
        second = cluster_node_ids(cluster)[1]
        [on_second] = [j for j in running if nodes[j.device] == second]
        cluster.stop_node(1)
        finals = [ended(client, j.id) for j in jobs]
        assert all(f.state == jobs_pb2.JOB_STATE_SUCCEEDED for f in finals), [f.error for f in finals]
        moved = next(f for f in finals if f.id == on_second.id)
        assert moved.attempts == 2 and nodes.get(moved.device) != second, (moved.device, moved.attempts)
    cluster.restart_node(1)
    wait_for(lambda: len(idle(server)) == 2, "a worker on the node started again", 90)


def cluster_node_ids(cluster) -> list[str]:
    """The Ray node id of each node process `cluster` started, in order (by the node's custom resource)."""
    code = ("import json, ray; ray.init(address=%r, log_to_driver=False, configure_logging=False); "
            "print(json.dumps({k: n['NodeID'] for n in ray.nodes() if n['Alive'] for k in n['Resources'] "
            "if k.startswith('node_')}))" % cluster.address)
    import json

    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    by_resource = json.loads(run.stdout.strip().splitlines()[-1])
    return [by_resource[next(iter(node["resources"]))] for node in cluster.nodes]


def health(address: str) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def test_the_cluster_going_away_turns_health_to_not_serving_and_jobs_wait_for_it(tmp_path):
    """A cluster of its own: the head stopped for longer than Ray's driver waits for its GCS (60 s),
    the server stays up and says NOT_SERVING; a job submitted meanwhile runs once the head is back."""
    from grpc_health.v1 import health_pb2

    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    node = {"num_cpus": 1, "num_gpus": 1}
    with LocalCluster([node]) as alone, ServerProcess(tmp_path / "data", "--backend", "ray", "--ray-address",
                                                      alone.address, "--device", "auto") as proc:
        wait_for(lambda: len(idle(proc)) == 1, "the worker")
        assert health(proc.address) == serving
        alone.stop_node(0)
        wait_for(lambda: health(proc.address) == not_serving, "health to say NOT_SERVING", 30)
        time.sleep(65)  # past the 60 s after which a Ray driver that lost its GCS ends its process
        assert proc.proc.poll() is None, "the server outlived the cluster"
        assert health(proc.address) == not_serving
        with Client(proc.address) as client:
            waiting = client.submit(inbetween_request(sketch(), sketch()))
            assert client.job(waiting.id).state == jobs_pb2.JOB_STATE_QUEUED
            alone.restart_node(0)
            wait_for(lambda: health(proc.address) == serving, "health to say SERVING again", 90)
            final = ended(client, waiting.id)
        assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
