using System.Runtime.InteropServices;
using System.Text;
using PmemFs.Abi;
using PmemFs.Engine;
using PmemFs.Fuse;

namespace PmemFs.Daemon.Operations;

/// <summary>What PMEMFS_IOC_REGION reports: the region a direct-access client maps itself.</summary>
public sealed record RegionDescription(string Path, bool IsDeviceDax, long Size, Guid Uuid, uint UuidOffset);

/// <summary>
/// PMEMFS_IOC_REGION (pmemfs.h, docs/direct.md): which region the mount serves. Any descriptor of
/// the mount may ask: the path is in /proc/self/mountinfo anyway, and opening the region needs the
/// caller's own permission on it.
/// </summary>
public sealed unsafe partial class PmemFsOperations
{
    /// <summary>The served region (set by the daemon; null in tests: the ioctl is then ENOTTY).</summary>
    public RegionDescription? Region { get; init; }

    private bool TryRegionIoctl(FuseRequest req, ReadOnlySpan<byte> input, long outSize)
    {
        if (input.Length < PmemFsRegion.Size || outSize < PmemFsRegion.Size || Region is not { } region) return false;
        var args = MemoryMarshal.Read<PmemFsRegion>(input);
        if (args.Version != PmemFsRegionAbi.Version || args.Kind != 0 || args.RegionSize != 0 || args.UuidOffset != 0 || args.Granularity != 0
            || args.Reserved1 != 0 || args.Reserved2 != 0 || args.Reserved3 != 0 || args.Uuid.ContainsAnyExcept((byte)0) || args.PathBytes.ContainsAnyExcept((byte)0))
        {
            Reply(req, Errno.EINVAL);
            return true;
        }
        var reply = new PmemFsRegion
        {
            Version = PmemFsRegionAbi.Version,
            Kind = region.IsDeviceDax ? PmemFsRegionAbi.KindDeviceDax : PmemFsRegionAbi.KindFile,
            RegionSize = (ulong)region.Size,
            UuidOffset = region.UuidOffset,
            Granularity = StoreGranularity,
        };
        region.Uuid.TryWriteBytes(reply.Uuid);
        byte[] path = Encoding.UTF8.GetBytes(region.Path);
        if (path.Length >= PmemFsRegionAbi.PathBytes) { Reply(req, Errno.ENAMETOOLONG); return true; }
        path.CopyTo(reply.PathBytes);
        req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsRegion>(in reply)));
        return true;
    }
}
