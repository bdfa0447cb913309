"""SSH tunnels through bastions: one per (bastion, remote endpoint), shared, verified, reopened once.

    pool = TunnelPool()
    host, port = pool.local_endpoint("bastion_us", ssh_spec, "db.internal", 3306,
                                     connection="connections.yml: sources.us_dw_ro")
    ...                                 # connect the database client to (host, port)
    pool.close_all()                    # end of the run (the Dagster resource does this)

Lifetime. A `TunnelPool` holds at most one `sshtunnel.SSHTunnelForwarder` per key
(bastion name, remote host, remote port). The first `local_endpoint()` for a key opens it,
bound to 127.0.0.1 on a free port chosen by the OS; every later call for the same key returns
the same endpoint, so every table and asset of a run shares one SSH connection per bastion.
`close_all()` closes them; the Dagster `ConnectionsResource` owns one pool per run (per step
process with the multiprocess executor), and `connect.py` has a module-level default pool,
closed at interpreter exit, for library and CLI use.

Liveness. The SSH transport sends keepalives (`keepalive_seconds`). Each `local_endpoint()`
checks that the transport is still active; when it dropped (bastion restarted, network cut) the
tunnel is reopened once, on a new local port, and the new endpoint returned; a failed reopen is
a `TunnelError`. Database connections made through the old endpoint are dead; clients that ask
for the endpoint when they (re)connect (MySQLSource, the warehouses) reconnect through the new
one.

Security.
- The host key is verified by default against `known_hosts` (default `~/.ssh/known_hosts`,
  OpenSSH format, hashed names allowed, `[host]:port` for ports other than 22): an unknown key
  and a changed key are refused with the command that fixes it. `verify_host_key: false`
  disables the check explicitly and logs a warning at every connect.
- A private key file that group or others may read is refused (as OpenSSH does), with the
  `chmod 600` fix. `private_key_data: ${ENV_VAR}` takes the key's content from a secret instead
  (ECS, Kubernetes): written 0600 in a 0700 temporary folder only while it is loaded, then
  removed. With neither, the keys of a running ssh-agent are used; ~/.ssh/id_* and
  ~/.ssh/config are never read implicitly, so what connects is what connections.yml says.
- Messages and logs name the connection, the bastion (user@host:port), the key *path* and
  public fingerprints, never a passphrase or key material; sshtunnel's byte-level TRACE logging
  is cut off.

Modules. `tunnels` (the pool), `forwarder` (the SSH login sshtunnel runs: host key verified,
failures explained), `keys` (client keys and the host-key check against known_hosts), `target`
(what a tunnel is for, and `TunnelError`). No Dagster import here: the pool is plain Python.
"""

from mysql_redshift_assets.ssh.target import Endpoint, LogLike, TunnelError
from mysql_redshift_assets.ssh.tunnels import TunnelPool

__all__ = ["Endpoint", "LogLike", "TunnelError", "TunnelPool"]
