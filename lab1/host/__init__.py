"""What the machine is and how a process uses it: reading (or being told) the CPU, memory and
GPUs (machine), requested vs real devices and native bf16 (devices), the environment record
and machine id (environment), one profile per device across processes (exclusive), glibc
tuning (allocator), autocast and memory format per device and precision (precision), the CPU
thread axis (threads).

May import: lab1.
"""
