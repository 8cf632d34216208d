using System.Runtime.InteropServices;
using PmemFs.Abi;
using PmemFs.Engine;
using PmemFs.Fuse;

namespace PmemFs.Daemon.Operations;

/// <summary>PMEMFS_IOC_DAEMON_STATS: the daemon's garbage collections, pauses and allocation (<see cref="RuntimeStats"/>). Anyone may ask.</summary>
public sealed unsafe partial class PmemFsOperations
{
    private bool TryDaemonStatsIoctl(FuseRequest req, ReadOnlySpan<byte> input, long outSize)
    {
        if (input.Length < PmemFsDaemonStats.Size || outSize < PmemFsDaemonStats.Size) return false;
        var errno = ValidateDaemonStats(MemoryMarshal.Read<PmemFsDaemonStats>(input));
        if (errno.Failed)
        {
            Reply(req, errno);
            return true;
        }
        var stats = RuntimeStats.Snapshot();
        req.ReplyIoctl(0, MemoryMarshal.AsBytes(new Span<PmemFsDaemonStats>(ref stats)));
        return true;
    }

    /// <summary>EINVAL for an unknown version or a reserved input field that is not 0.</summary>
    public static Errno ValidateDaemonStats(in PmemFsDaemonStats args) =>
        args.Version == PmemFsDaemonStatsAbi.Version && args.Reserved0 == 0 ? Errno.Ok : Errno.EINVAL;
}
