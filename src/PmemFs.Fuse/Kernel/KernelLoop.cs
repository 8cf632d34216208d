using System.Runtime.InteropServices;

namespace PmemFs.Fuse.Kernel;

/// <summary>
/// The request loop of the kernel transport: worker threads, kept for the life of the mount, each
/// blocking in read(2) on /dev/fuse into its own native buffer (max_write plus a page for the
/// headers), dispatching, and replying with writev(2) from the same thread. A read failing with
/// ENODEV is the end (unmounted, or aborted); ENOENT (a request interrupted before it was read),
/// EINTR and EAGAIN are retried.
/// </summary>
internal sealed unsafe class KernelLoop(LowLevelFileSystem fs, KernelChannel channel)
{
    private readonly RequestDispatcher _dispatcher = new(fs, channel);
    private int _error;

    /// <summary>The read buffer: the kernel refuses reads smaller than a whole request of max_write data.</summary>
    public static readonly int BufferSize = (int)(InitNegotiation.DefaultMaxWrite + InitNegotiation.HeaderRoom);

    /// <summary>Serves until the connection ends; 0, or the errno a read failed with.</summary>
    public int Run(int threads)
    {
        var workers = new List<Thread>();
        for (int i = 1; i < threads; i++)
        {
            var t = new Thread(Worker) { IsBackground = true, Name = $"fuse-worker-{i}" };
            t.Start();
            workers.Add(t);
        }
        Worker();
        foreach (var t in workers) t.Join();
        return _error;
    }

    private void Worker()
    {
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)BufferSize, 4096);
        RequestSlot* slot = RequestSlot.Allocate(channel.Fd);
        try
        {
            while (!channel.Ended)
            {
                nint n = Posix.Read(channel.Fd, buffer, (nuint)BufferSize);
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno is Posix.EINTR or Posix.EAGAIN or Posix.ENOENT) continue;
                    if (errno != Posix.ENODEV) Interlocked.CompareExchange(ref _error, errno, 0);
                    break;
                }
                if (n == 0) break;
                if (_dispatcher.Process(slot, buffer, (int)n) && RequestSlot.Detach(slot))
                    slot = RequestSlot.Allocate(channel.Fd); // the parked request keeps (and frees) the old one
            }
        }
        finally
        {
            channel.Ended = true;
            NativeMemory.AlignedFree(buffer);
            // A parked request still owns a detached slot; this one is the worker's.
            NativeMemory.Free(slot);
        }
    }
}
