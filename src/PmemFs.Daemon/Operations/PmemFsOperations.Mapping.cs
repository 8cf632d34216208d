using System.Runtime.InteropServices;
using PmemFs.Abi;
using PmemFs.Engine;
using PmemFs.Engine.Leases;
using PmemFs.Engine.Mapping;
using PmemFs.Fuse;
using PmemFs.Fuse.Native;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// The extent map and prepare-write through the mount (PMEMFS_IOC_GET_MAP and
/// PMEMFS_IOC_PREPARE_WRITE, docs/leases.md): a lease holder learns where its file's bytes live
/// in the region, and prepare-write makes a range ready for direct stores with its metadata
/// durable before the reply (MAP_SYNC's guarantee at prepare time). The engine decides; this
/// file validates and translates, in the order the lease ioctls use: the struct, then the handle.
/// </summary>
public sealed unsafe partial class PmemFsOperations
{
    /// <summary>
    /// A prepare-write larger than this runs off the FUSE loop: zeroing is about 4 ms per MiB on
    /// a loaded machine, and a 1 GiB prepare on the loop would hold every other request of the
    /// mount for seconds (docs/performance.md). Smaller ones stay on the loop: the hop costs more
    /// than they do.
    /// </summary>
    private const long PrepareOffLoopBytes = 4 << 20;

    private bool TryMappingIoctl(FuseRequest req, ulong ino, uint cmd, FuseFileInfo* fi, uint flags, ReadOnlySpan<byte> input, long outSize)
    {
        if (cmd is not (PmemFsMapAbi.GetMap or PmemFsMapAbi.PrepareWrite or PmemFsMapAbi.Bmap) || input.Length < PmemFsMap.Size || outSize < PmemFsMap.Size)
            return false;
        var args = MemoryMarshal.Read<PmemFsMap>(input);
        bool prepare = cmd == PmemFsMapAbi.PrepareWrite;
        var errno = Validate(args, prepare, out var range);
        if (errno.IsOk) errno = HandleOf(fi, flags, out _); // EINVAL through a directory, EBADF if not ours
        if (errno.Failed) { Reply(req, errno); return true; }
        ulong fh = fi->Fh;
        if (!prepare)
        {
            // BMAP (pmemfs bmap) is for anyone with the file open, as FIEMAP is; GET_MAP for lease holders.
            if (cmd == PmemFsMapAbi.GetMap) errno = MayReadMap(ino, fh, range);
            PmemFsMap map = default;
            if (errno.IsOk) errno = MapOf(ino, range, out map);
            if (errno.Failed) Reply(req, errno);
            else ReplyMap(req, map);
            return true;
        }
        var who = CallerWithCapabilities(req); // reads /proc now, while the caller is surely there
        if (range.IsToEnd || range.Length > PrepareOffLoopBytes)
        {
            // Counted with the parked requests: the session waits for it before it ends.
            Interlocked.Increment(ref _parked);
            _ = Task.Run(() =>
            {
                try { PrepareAndReply(req, ino, fh, range, args.Flags, who); }
                finally { Interlocked.Decrement(ref _parked); }
            });
        }
        else PrepareAndReply(req, ino, fh, range, args.Flags, who);
        return true;
    }

    /// <summary>Prepares, then replies with the new map once the kernel's cached pages of the range are gone.</summary>
    private void PrepareAndReply(FuseRequest req, ulong ino, ulong fh, FileRange range, uint flags, Credentials who)
    {
        try
        {
            long sizeBefore = _fs.GetAttr(ino, out var before).IsOk ? before.Size : long.MaxValue;
            var errno = PrepareWrite(ino, fh, range, flags, who);
            PmemFsMap map = default;
            if (errno.IsOk) errno = MapOf(ino, range, out map);
            if (errno.Failed) Reply(req, errno);
            // The holder is about to store (or has stored) into the range directly: the kernel's
            // cached copies of it, and the size it caches, go before the reply (docs/direct.md).
            // Past the page that held the old end of file the kernel caches no page: only the size
            // goes, which locks no page and so is safe on the loop (a third of an idle
            // prepare-write was the hop to the invalidation thread: docs/performance.md).
            else if (range.Offset >= RoundUpToPage(sizeBefore))
            {
                AttributesChanged(ino);
                ReplyMap(req, map);
            }
            else DropCachedPages(ino, range.Offset, range.IsToEnd ? 0 : range.Length, () => ReplyMap(req, map));
        }
        catch (Exception e)
        {
            _log.Error($"inode {ino}: prepare-write: unexpected {e.GetType().Name}: {e.Message} (answered EIO)\n{e.StackTrace}");
            Reply(req, Errno.EIO);
        }
    }

    private static long RoundUpToPage(long size)
    {
        long page = Environment.SystemPageSize;
        return size > long.MaxValue - page ? long.MaxValue : (size + page - 1) / page * page;
    }

    private static void ReplyMap(FuseRequest req, in PmemFsMap map) => req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsMap>(in map)));

    /// <summary>Version, flags, reserved and output fields (0 on input), and the range, as the lease structs are checked.</summary>
    private static Errno Validate(in PmemFsMap a, bool prepare, out FileRange range)
    {
        range = default;
        uint allowedFlags = prepare ? PmemFsMapAbi.PrepareExtendSize : 0;
        if (a.Version != PmemFsMapAbi.Version || (a.Flags & ~allowedFlags) != 0 || a.Reserved0 != 0 || a.Reserved1 != 0 || a.Reserved2 != 0
            || a.NextOffset != 0 || a.Count != 0 || a.FileSize != 0)
            return Errno.EINVAL;
        return ToRange(a.Offset, a.Length, out range);
    }

    /// <summary>The map is for lease holders (DESIGN.md): the handle must hold an active lease overlapping the range.</summary>
    private Errno MayReadMap(ulong ino, ulong handle, FileRange range)
    {
        return _fs.Leases.ListOf(ino).Any(l => l.Handle == handle && l.State == LeaseState.Active && l.Range.Overlaps(range))
            ? Errno.Ok
            : Errno.EACCES;
    }

    private Errno PrepareWrite(ulong ino, ulong fh, FileRange range, uint flags, Credentials who)
    {
        if (MountIsReadOnly?.Invoke() == true) return Errno.EROFS;
        var prepareFlags = (flags & PmemFsMapAbi.PrepareExtendSize) != 0 ? PrepareWriteFlags.ExtendSize : PrepareWriteFlags.None;
        // The size and times may have changed behind the kernel's cached attributes: the
        // invalidation that follows a successful prepare drops them with the pages.
        return _fs.PrepareWrite(ino, fh, range.Offset, range.Length, prepareFlags, who);
    }

    /// <summary>One page of the map from the range's start; next_offset says where the next page starts (offset + length when done).</summary>
    private Errno MapOf(ulong ino, FileRange range, out PmemFsMap reply)
    {
        reply = default;
        Span<MappedExtent> extents = stackalloc MappedExtent[PmemFsMapAbi.Extents];
        var errno = _fs.GetExtentMap(ino, range.Offset, range.Length, extents, out int count, out long next);
        InodeAttributes attr = default;
        if (errno.IsOk) errno = _fs.GetAttr(ino, out attr);
        if (errno.Failed) return errno;
        reply = new PmemFsMap
        {
            Version = PmemFsMapAbi.Version,
            Offset = (ulong)range.Offset,
            Length = ToAbiLength(range),
            NextOffset = next < 0 ? (ulong)range.End : (ulong)next,
            Count = (uint)count,
            FileSize = (ulong)attr.Size,
        };
        var into = reply.Extents;
        for (int i = 0; i < count; i++)
        {
            var e = extents[i];
            into[i] = new PmemFsExtent
            {
                FileOffset = (ulong)e.FileOffset,
                PhysOffset = e.State == ExtentState.Hole ? PmemFsMapAbi.NoPhysicalOffset : (ulong)e.PhysicalOffset,
                Length = (ulong)e.Length,
                State = e.State switch
                {
                    ExtentState.Hole => PmemFsMapAbi.ExtentHole,
                    ExtentState.Unwritten => PmemFsMapAbi.ExtentUnwritten,
                    ExtentState.Shared => PmemFsMapAbi.ExtentShared,
                    ExtentState.Poisoned => PmemFsMapAbi.ExtentPoisoned,
                    _ => PmemFsMapAbi.ExtentWritten,
                },
            };
        }
        return Errno.Ok;
    }
}
