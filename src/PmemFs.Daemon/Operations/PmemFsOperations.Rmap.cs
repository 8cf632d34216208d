using System.Runtime.InteropServices;
using PmemFs.Abi;
using PmemFs.Engine;
using PmemFs.Engine.Leases;
using PmemFs.Fuse;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// PMEMFS_IOC_RMAP (pmemfs.h; `pmemfs rmap MOUNT`): who owns each range of the region, from the
/// engine's <see cref="FileSystem.ReverseMap"/>, a page at a time. Like GETFSMAP it tells where
/// every file lives, so only a caller with CAP_SYS_ADMIN in the daemon's user namespace may ask;
/// any descriptor of the mount will do. Checked in the order pmemfs.h gives: the struct (EINVAL,
/// EOVERFLOW), then the caller (EPERM).
/// </summary>
public sealed unsafe partial class PmemFsOperations
{
    /// <summary>Whether the caller (by pid) has CAP_SYS_ADMIN here; tests replace it.</summary>
    public Func<int, bool> CallerIsAdmin { get; init; } = pid => CallerCapabilities.Has(pid, CallerCapabilities.SysAdmin);

    private bool TryRmapIoctl(FuseRequest req, ReadOnlySpan<byte> input, long outSize)
    {
        if (input.Length < PmemFsRmap.Size || outSize < PmemFsRmap.Size) return false;
        var args = MemoryMarshal.Read<PmemFsRmap>(input);
        var errno = ValidateRmap(args, out var range, out var after);
        if (errno.IsOk && !CallerIsAdmin(req.Context.Pid)) errno = Errno.EPERM;
        if (errno.Failed) { Reply(req, errno); return true; }

        // A page is one pass over every inode's map (taking each inode's read lock in turn): off
        // the FUSE loop, so that a large file system, or an inode held by a long write, does not
        // stall every other request of the mount. Counted with the parked requests: the session
        // waits for it before it ends.
        Interlocked.Increment(ref _parked);
        _ = Task.Run(() =>
        {
            try { ReplyRmapPage(req, args, range, after); }
            catch (Exception e)
            {
                _log.Error($"rmap: unexpected {e.GetType().Name}: {e.Message} (answered EIO)\n{e.StackTrace}");
                Reply(req, Errno.EIO);
            }
            finally { Interlocked.Decrement(ref _parked); }
        });
        return true;
    }

    private void ReplyRmapPage(FuseRequest req, PmemFsRmap args, FileRange range, ReverseMapCursor after)
    {
        var page = new PmemFsRmap
        {
            Version = PmemFsRmapAbi.Version,
            Offset = args.Offset,
            Length = args.Length,
            CursorPhysical = args.CursorPhysical,
            CursorIno = args.CursorIno,
            CursorFileOffset = args.CursorFileOffset,
            CursorKind = args.CursorKind,
        };
        Span<ReverseMapOwner> rows = new ReverseMapOwner[PmemFsRmapAbi.Entries];
        var errno = _fs.ReverseMap(range.Offset, range.IsToEnd ? long.MaxValue : range.Length, after, rows, out int count, out bool more);
        if (errno.Failed) { Reply(req, errno); return; }
        var entries = page.Entries;
        for (int i = 0; i < count; i++)
        {
            var r = rows[i];
            entries[i] = new PmemFsRmapEntry
            {
                Physical = (ulong)r.Physical,
                Length = (ulong)r.Length,
                Ino = r.Ino,
                FileOffset = (ulong)r.FileOffset,
                Refs = r.Refs,
                Kind = (uint)r.Kind,
                Flags = (r.Unwritten ? PmemFsRmapAbi.FlagUnwritten : 0)
                    | (r.Kind == ReverseMapKind.Data && r.Refs > 0 ? PmemFsRmapAbi.FlagShared : 0),
            };
        }
        if (count > 0)
        {
            var last = rows[count - 1];
            page.CursorPhysical = (ulong)last.Physical;
            page.CursorIno = last.Ino;
            page.CursorFileOffset = (ulong)last.FileOffset;
            page.CursorKind = (uint)last.Kind;
        }
        page.Count = (uint)count;
        page.More = more ? 1u : 0u;
        req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsRmap>(in page)));
    }

    /// <summary>Version, flags, reserved0, the range (as the lease structs' ranges) and the cursor; count, more and entries are ignored (they hold the last page).</summary>
    public static Errno ValidateRmap(in PmemFsRmap a, out FileRange range, out ReverseMapCursor after)
    {
        range = default;
        after = default;
        if (a.Version != PmemFsRmapAbi.Version || a.Flags != 0 || a.Reserved0 != 0) return Errno.EINVAL;
        if (a.CursorKind == 0)
        {
            if (a.CursorPhysical != 0 || a.CursorIno != 0 || a.CursorFileOffset != 0) return Errno.EINVAL;
        }
        else if (!PmemFsRmapAbi.IsKind(a.CursorKind) || a.CursorPhysical > long.MaxValue || a.CursorFileOffset > long.MaxValue) return Errno.EINVAL;
        var errno = ToRange(a.Offset, a.Length, out range);
        if (errno.Failed) return errno;
        after = new ReverseMapCursor((long)a.CursorPhysical, (ReverseMapKind)a.CursorKind, a.CursorIno, (long)a.CursorFileOffset);
        return Errno.Ok;
    }
}
