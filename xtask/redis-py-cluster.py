"""redis-py's RedisCluster against a kvs cluster with a layout, unchanged: it routes every key by
CLUSTER SLOTS, pipelines by slot, refuses keys across slots itself, and reads the topology."""
import sys

from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

host, port, members = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rc = RedisCluster(host=host, port=port, decode_responses=True)
nodes = rc.get_nodes()
assert len(nodes) == members, f"RedisCluster sees {len(nodes)} nodes: {nodes}"
for i in range(500):
    assert rc.set(f"key:{i}", i)
for i in range(500):
    assert rc.get(f"key:{i}") == str(i), i
# Keys spread over every member as the slots' first owners.
owners = {rc.get_node_from_key(f"key:{i}").name for i in range(500)}
assert len(owners) == members, owners
with rc.pipeline() as pipe:
    pipe.set("{user:1}name", "ada").incr("{user:1}visits").get("{user:1}name")
    assert pipe.execute() == [True, 1, "ada"]
assert rc.mset_nonatomic({"a": "1", "b": "2"}) and rc.mget_nonatomic(["a", "b"]) == ["1", "2"]
try:
    rc.mget("a", "b")
    raise AssertionError("MGET across slots must be refused")
except RedisClusterException as e:
    assert "same key slot" in str(e), e
assert rc.keyslot("foo") == 12182
assert rc.cluster_info()["cluster_state"] == "ok"
print(f"RedisCluster: {len(nodes)} nodes, 500 keys routed over {len(owners)} first owners")
