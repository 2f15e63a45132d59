//! What the OS lets a thread do: pinning and QoS hints, each best-effort with its outcome reported.
