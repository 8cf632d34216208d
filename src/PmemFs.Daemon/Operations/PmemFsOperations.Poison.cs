using System.Runtime.InteropServices;
using PmemFs.Abi;
using PmemFs.Engine;
using PmemFs.Engine.Health;
using PmemFs.Fuse;
using PmemFs.Media.Poison;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// PMEMFS_IOC_POISON (pmemfs.h; `pmemfs poison list|inject|clear MOUNT`): the mount's bad ranges,
/// injection into an emulated region, clearing. Like the reverse map it tells where data lives and
/// changes what files read, so only a caller with CAP_SYS_ADMIN may ask. Checked in the order
/// pmemfs.h gives: the struct (EINVAL), then the caller (EPERM), then the operation.
/// </summary>
public sealed unsafe partial class PmemFsOperations
{
    private bool TryPoisonIoctl(FuseRequest req, ReadOnlySpan<byte> input, long outSize)
    {
        if (input.Length < PmemFsPoison.Size || outSize < PmemFsPoison.Size) return false;
        var args = MemoryMarshal.Read<PmemFsPoison>(input);
        var errno = ValidatePoison(args);
        if (errno.IsOk && !CallerIsAdmin(req.Context.Pid)) errno = Errno.EPERM;
        if (errno.Failed) { Reply(req, errno); return true; }

        // Injecting and clearing look owners up (every inode's read lock in turn) and sync the
        // emulated device's list: off the FUSE loop, like the reverse map.
        Interlocked.Increment(ref _parked);
        _ = Task.Run(() =>
        {
            try { ReplyPoison(req, args); }
            catch (Exception e)
            {
                _log.Error($"poison: unexpected {e.GetType().Name}: {e.Message} (answered EIO)\n{e.StackTrace}");
                Reply(req, Errno.EIO);
            }
            finally { Interlocked.Decrement(ref _parked); }
        });
        return true;
    }

    private static Errno ValidatePoison(in PmemFsPoison a)
    {
        if (a.Version != PmemFsPoisonAbi.Version || a.Reserved1 != 0 || a.Reserved2 != 0 || a.Reserved3 != 0) return Errno.EINVAL;
        uint allowed = a.Op switch
        {
            PmemFsPoisonAbi.OpList => 0,
            PmemFsPoisonAbi.OpInject => PmemFsPoisonAbi.FlagQuiet,
            PmemFsPoisonAbi.OpClear => PmemFsPoisonAbi.FlagDiscardData,
            _ => uint.MaxValue,
        };
        if (allowed == uint.MaxValue || (a.Flags & ~allowed) != 0) return Errno.EINVAL;
        if (a.Offset > long.MaxValue) return Errno.EINVAL;
        if (a.Op != PmemFsPoisonAbi.OpList && (a.Length == 0 || a.Length > long.MaxValue)) return Errno.EINVAL;
        return Errno.Ok;
    }

    private void ReplyPoison(FuseRequest req, PmemFsPoison args)
    {
        var errno = Errno.Ok;
        var page = new PmemFsPoison { Version = PmemFsPoisonAbi.Version, Op = args.Op, Flags = args.Flags, Offset = args.Offset, Length = args.Length };
        switch (args.Op)
        {
            case PmemFsPoisonAbi.OpInject:
                errno = _fs.InjectPoison((long)args.Offset, (long)args.Length, tell: (args.Flags & PmemFsPoisonAbi.FlagQuiet) == 0);
                if (errno.IsOk) _log.Warning($"poison injected at region bytes [{args.Offset}, +{args.Length}) by pid {req.Context.Pid}{((args.Flags & PmemFsPoisonAbi.FlagQuiet) != 0 ? " (quiet: found when touched)" : "")}");
                break;
            case PmemFsPoisonAbi.OpClear:
                var owners = _fs.PoisonOwners(new BadRange((long)args.Offset, (long)args.Length));
                errno = _fs.ClearPoison((long)args.Offset, (long)args.Length, discardData: (args.Flags & PmemFsPoisonAbi.FlagDiscardData) != 0);
                // Discarded data reads zeros now: the kernel must not keep showing what it cached.
                if (errno.IsOk)
                    foreach (var o in owners.Where(o => o.Kind == ReverseMapKind.Data))
                        DropCachedPages(o.Ino, o.FileOffset / 4096 * 4096, (o.FileOffset % 4096 + o.Length + 4095) / 4096 * 4096);
                break;
            default:
                var ranges = page.Ranges;
                int n = 0;
                foreach (var r in _fs.PoisonedRanges)
                {
                    if (r.End <= (long)args.Offset) continue;
                    if (n == ranges.Length) { page.More = 1; break; }
                    ranges[n++] = new PmemFsPoisonRange { Offset = (ulong)r.Offset, Length = (ulong)r.Length };
                }
                page.Count = (uint)n;
                break;
        }
        if (errno.Failed) { Reply(req, errno); return; }
        page.HealthState = (uint)_fs.Health.State;
        req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsPoison>(in page)));
    }

    /// <summary>
    /// From the engine, as it happens: pages the kernel cached of a file range that is now
    /// poisoned were read before; drop them, so the mount reads EIO there as `poison list` says.
    /// A file found damaged while mounted (sick) answers EUCLEAN from now on: drop the attributes
    /// the kernel caches for it (long timeouts), so that stat says so too.
    /// </summary>
    public void HealthEventSeen(HealthEvent e)
    {
        if (e.Kind == HealthEventKind.SickInode && e.Ino != 0) { DropCachedPages(e.Ino); return; }
        if (e.Kind != HealthEventKind.Poison || e.Ino == 0 || e.Offset < 0) return;
        long start = e.Offset / 4096 * 4096;
        DropCachedPages(e.Ino, start, Math.Max(4096, (e.Offset + e.Length + 4095) / 4096 * 4096 - start));
    }

    /// <summary>A load the engine did not expect to fault did (emulated poison, or a device's list it had not seen): learn it; the request was answered EIO.</summary>
    private bool LearnPoison(string operation, Exception e)
    {
        if (e is not MediaPoisonException p) return false;
        _log.Warning($"{operation}: touched poisoned media at region bytes {p.Range} (answered EIO)");
        _fs.LearnPoison(p.Range, $"found by {operation}");
        return true;
    }
}
