"""An independent calculation of the kubelet's eviction signals (facts §1) from a
/proc and /sys tree, written separately from the agent to check it."""
import os


def read(path):
    with open(path) as f:
        return f.read()


def meminfo_total(proc):
    for line in read(os.path.join(proc, "meminfo")).splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise ValueError("no MemTotal")


def keyed(path):
    out = {}
    for line in read(path).splitlines():
        k, v = line.split()
        out[k] = int(v)
    return out


def cgroup_mounts(proc):
    """(v2 mount point or None, v1 memory mount point or None) from mountinfo."""
    v2 = v1 = None
    for line in read(os.path.join(proc, "self", "mountinfo")).splitlines():
        left, right = line.split(" - ")
        fields, rfields = left.split(), right.split()
        if fields[3] != "/":
            continue
        if rfields[0] == "cgroup2":
            v2 = fields[4]
        elif rfields[0] == "cgroup" and "memory" in rfields[2].split(","):
            v1 = fields[4]
    return v2, v1


def host(sys_root, mount_point):
    assert mount_point.startswith("/sys/")
    return os.path.join(sys_root, mount_point[len("/sys/"):])


def memory_available(proc, sys_root):
    """(available, capacity) in bytes."""
    capacity = meminfo_total(proc)
    v2, v1 = cgroup_mounts(proc)
    if v2 and "memory" in read(os.path.join(host(sys_root, v2), "cgroup.controllers")).split():
        stat = keyed(os.path.join(host(sys_root, v2), "memory.stat"))
        usage, inactive = stat["anon"] + stat["file"], stat["inactive_file"]
    else:
        d = host(sys_root, v1)
        usage = int(read(os.path.join(d, "memory.usage_in_bytes")))
        inactive = keyed(os.path.join(d, "memory.stat"))["total_inactive_file"]
    working_set = max(0, usage - inactive)
    return capacity - working_set, capacity


def allocatable_available(proc, sys_root):
    """(available, capacity) of allocatableMemory.available from the kubepods cgroup's limit
    and working set, or None without a kubepods cgroup."""
    v2, v1 = cgroup_mounts(proc)
    for name in ("kubepods.slice", "kubepods"):
        if v1 and os.path.exists(os.path.join(host(sys_root, v1), name, "memory.usage_in_bytes")):
            d = os.path.join(host(sys_root, v1), name)
            limit = int(read(os.path.join(d, "memory.limit_in_bytes")))
            usage = int(read(os.path.join(d, "memory.usage_in_bytes")))
            inactive = keyed(os.path.join(d, "memory.stat"))["total_inactive_file"]
        elif v2 and os.path.exists(os.path.join(host(sys_root, v2), name, "memory.current")):
            d = os.path.join(host(sys_root, v2), name)
            limit = int(read(os.path.join(d, "memory.max")))
            usage = int(read(os.path.join(d, "memory.current")))
            inactive = keyed(os.path.join(d, "memory.stat"))["inactive_file"]
        else:
            continue
        return limit - max(0, usage - inactive), limit
    return None


def pid_available(proc):
    pid_max = int(read(os.path.join(proc, "sys/kernel/pid_max")))
    threads_max = int(read(os.path.join(proc, "sys/kernel/threads-max")))
    tasks = int(read(os.path.join(proc, "loadavg")).split()[3].split("/")[1])
    cap = min(pid_max, threads_max)
    return cap - tasks, cap


def signal(doc, name):
    for s in doc["signals"]:
        if s["signal"] == name:
            return s
    raise KeyError(name)


def condition(doc, ctype):
    for c in doc["conditions"]:
        if c["type"] == ctype:
            return c
    raise KeyError(ctype)
