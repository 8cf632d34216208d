using System.Globalization;
using System.Runtime.InteropServices;
using PmemFs.Abi;
using PmemFs.Cli.Native;

namespace PmemFs.Cli.Leases;

/// <summary>One pinned range of a lease.</summary>
public sealed record PinReport(ulong Id, ulong Offset, ulong? Length)
{
    public string RangeText => LeaseReport.Range(Offset, Length);
}

/// <summary>
/// One layout lease as <c>pmemfs lease list</c> and <c>pmemfs info FILE</c> show it: what the
/// daemon answers (PMEMFS_IOC_LEASE_LIST) plus, from /proc, the holder's command and a path of
/// the file (a descriptor of the holder's that is open on it).
/// </summary>
public sealed record LeaseReport(
    ulong Id, ulong Ino, int Pid, string? Command, string? Path, string Mode, string State,
    ulong Offset, ulong? Length, DateTimeOffset Granted, DateTimeOffset? Deadline, IReadOnlyList<PinReport> Pins)
{
    /// <summary>Length null: to the end of the file, whatever it grows to.</summary>
    public string RangeText => Range(Offset, Length);

    public static string Range(ulong offset, ulong? length) =>
        length is ulong n ? $"{offset}-{offset + n - 1}" : $"{offset}-end";

    /// <summary>The deadline as "in 1.5 s" (or "overdue") against <paramref name="now"/>, for a recalled lease.</summary>
    public string DeadlineText(DateTimeOffset now) => Deadline is not { } d ? "-"
        : d >= now ? $"revoked in {(d - now).TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s" : "revoking now";
}

/// <summary>PMEMFS_IOC_LEASE_LIST on a path: every page, as reports.</summary>
public static unsafe class LeaseList
{
    /// <summary>
    /// The leases of the mount <paramref name="path"/> is on (or only of that file), with the
    /// daemon's clock. Returns an errno (0: success; ENOTTY: not a PmemFs mount, or a daemon
    /// without leases).
    /// </summary>
    public static int Read(string path, bool thisFileOnly, string? mountpoint, out List<LeaseReport> leases, out DateTimeOffset now)
    {
        leases = [];
        now = DateTimeOffset.UtcNow;
        int fd = LibC.open(path, LibC.O_RDONLY | LibC.O_NONBLOCK | LibC.O_CLOEXEC);
        if (fd < 0) return Marshal.GetLastPInvokeError();
        var rows = new List<PmemFsLeaseEntry>();
        try
        {
            var page = new PmemFsLeaseList { Version = PmemFsLeaseAbi.Version, Flags = thisFileOnly ? PmemFsLeaseAbi.ListThisFile : 0 };
            do
            {
                if (LibC.ioctl(fd, PmemFsLeaseAbi.LeaseList, &page) < 0) return Marshal.GetLastPInvokeError();
                rows.AddRange(page.Entries[..(int)Math.Min(page.Count, (uint)PmemFsLeaseAbi.ListEntries)].ToArray());
                now = FromNs(page.NowNs);
            } while (page.More != 0);
        }
        finally { LibC.close(fd); }

        foreach (var r in rows)
        {
            if (r.PinId == 0)
            {
                leases.Add(new LeaseReport(r.LeaseId, r.Ino, r.Pid, CommandOf(r.Pid), PathOf(r.Pid, r.Ino, mountpoint),
                    r.Mode == PmemFsLeaseAbi.ModeWrite ? "write" : "read",
                    r.State == PmemFsLeaseAbi.StateRecalled ? "recalled" : "active",
                    r.Offset, LengthOf(r.Length), FromNs(r.GrantedNs), r.DeadlineNs == 0 ? null : FromNs(r.DeadlineNs), []));
                continue;
            }
            int i = leases.FindLastIndex(l => l.Id == r.LeaseId);
            if (i < 0) continue; // its lease ended between pages
            leases[i] = leases[i] with { Pins = [.. leases[i].Pins, new PinReport(r.PinId, r.Offset, LengthOf(r.Length))] };
        }
        return 0;
    }

    private static ulong? LengthOf(ulong length) => length == PmemFsLeaseAbi.LengthToEnd ? null : length;

    private static DateTimeOffset FromNs(long ns) => DateTimeOffset.UnixEpoch.AddTicks(ns / 100);

    /// <summary>/proc/PID/comm, or null when the process is gone or hidden.</summary>
    public static string? CommandOf(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").TrimEnd('\n'); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// A path of inode <paramref name="ino"/>: a descriptor of the holder open on it (the link in
    /// /proc/PID/fd whose fdinfo has that inode, under <paramref name="mountpoint"/>). Null when
    /// none can be read (another user's process, or it closed the descriptor it leased through).
    /// </summary>
    public static string? PathOf(int pid, ulong ino, string? mountpoint)
    {
        try
        {
            foreach (var fdinfo in Directory.EnumerateFiles($"/proc/{pid}/fdinfo"))
            {
                string? inoLine = null;
                try { inoLine = File.ReadLines(fdinfo).FirstOrDefault(l => l.StartsWith("ino:", StringComparison.Ordinal)); }
                catch (IOException) { continue; }
                if (inoLine is null || !ulong.TryParse(inoLine.AsSpan(4).Trim(), CultureInfo.InvariantCulture, out ulong fdIno) || fdIno != ino) continue;
                var target = new FileInfo($"/proc/{pid}/fd/{System.IO.Path.GetFileName(fdinfo)}").LinkTarget;
                if (target is null) continue;
                if (mountpoint is not null && !(target == mountpoint || target.StartsWith(mountpoint.TrimEnd('/') + "/", StringComparison.Ordinal))) continue;
                return target;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }
}
