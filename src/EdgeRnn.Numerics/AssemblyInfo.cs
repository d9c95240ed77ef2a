// Stack buffers here (the kernels' padded copies of x) are always written in full before they are read, so the
// zeroing the runtime would otherwise add to every stackalloc is skipped.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
