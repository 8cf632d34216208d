using System.Runtime.InteropServices;
using PmemFs.Daemon.Operations;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Fuse;
using PmemFs.Media;
using PmemFs.Media.Poison;
using PmemFs.Engine.Health;
using PmemFs.Media.Access;

namespace PmemFs.Daemon;

/// <summary>What to mount where, and how.</summary>
public sealed record MountRequest(string Image, string Mountpoint, MountOptions Options)
{
    public string? PidFile { get; init; }

    /// <summary>How long to wait for a daemon that is still letting go of the image.</summary>
    public TimeSpan LockWait { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// A mounted PmemFs from start to end: lock and open the image, recover and load it, mount
/// over FUSE, serve until unmounted (umount, fusermount3 -u, SIGTERM/SIGINT/SIGHUP), then
/// checkpoint the log and let go of the image. Nothing returned to a caller is ever lost: a
/// signal detaches the mount so in-flight requests finish before the loop ends.
/// </summary>
public sealed class MountDaemon(MountRequest request, DaemonLog log)
{
    /// <summary>Runs to the end; <paramref name="mounted"/> is called once the mount is live. Throws <see cref="MountException"/> on refusal.</summary>
    public int Run(Action mounted)
    {
        string image = Path.GetFullPath(request.Image);
        string mountpoint = Path.GetFullPath(request.Mountpoint);
        int rc = Serve(mounted, image, mountpoint);
        log.Info($"{image}: released (unmounted from {mountpoint})");
        return rc;
    }

    /// <summary>Everything up to letting go of the image, which the using declarations do on return.</summary>
    private int Serve(Action mounted, string image, string mountpoint)
    {
        if (!Path.Exists(image))
            throw new MountException($"{image}: no such image (create one with: pmemfs mkfs {image} --size 1G)");
        if (!Directory.Exists(mountpoint))
            throw new MountException($"{mountpoint}: mountpoint does not exist or is not a directory");

        // Before anything opens it: a refused region is never locked, mapped or replayed.
        RegionAccess access;
        try { access = RegionFile.Examine(image); }
        catch (IOException e) { throw new MountException(e.Message); }
        CheckRegionAccess(image, access);

        if (MountTable.FindByImage(image) is { } existing)
            throw new MountException($"{image}: already mounted on {existing.Mountpoint}");
        // A daemon that was just unmounted may still be checkpointing: wait for it to let go.
        using var imageLock = ImageLock.TryAcquire(image, exclusive: true, request.LockWait)
            ?? throw new MountException($"{image}: in use by another pmemfs process (a mount, mkfs or fsck); unmount it first");
        EmulatedPmem.ChooseGranularity(image, log);
        using var media = PmemMedia.Open(image, request.Options.ReadOnly);
        // Again on the open file: the path could have been swapped meanwhile.
        if (media.Access != access) CheckRegionAccess(image, media.Access);
        // An image file is an emulated device: its injected bad ranges (IMAGE.poison) fail loads as real poison would.
        var region = EmulatedPoisonMedia.Attach(media);
        using var fs = FileSystem.Mount(region, new FileSystemOptions
        {
            ReadOnly = request.Options.ReadOnly,
            NoAtime = request.Options.NoAtime,
            Dax = request.Options.Dax,
            LeaseBreakTime = request.Options.LeaseBreakTime,
            Name = image,
        });
        var report = fs.Report;
        log.Info($"{image}: mounted on {mountpoint} ({media.Description}); replayed {report.TransactionsReplayed} transactions, freed {report.OrphansFreed} orphans, finished {report.TrimsFinished} truncates"
            + (report.SuperblockProblem is null ? "" : $"; superblock: {report.SuperblockProblem}"));

        RuntimeStats.StartListening(); // the longest GC pause, for PMEMFS_IOC_DAEMON_STATS
        log.Info($"garbage collector: {DaemonGc.Describe()}");
        var ops = new PmemFsOperations(fs, log)
        {
            StoreGranularity = (uint)media.Granularity,
            Region = new RegionDescription(image, media.IsDeviceDax, media.Size, fs.Superblock.Uuid, (uint)DiskSuperblock.UuidOffset),
        };
        using var session = FuseSession.Create(ops, FuseOptions(image, request.Options), transport: request.Options.Transport);
        log.Info($"FUSE transport: {request.Options.Transport}");
        session.Mount(mountpoint);
        ops.Session = session;
        // Declared after the session: disposed (its queued replies sent) before the session is.
        using var invalidator = new PageCacheInvalidator(session.InvalidateInode, log);
        ops.Invalidator = invalidator;
        // What mount found wrong (bad ranges, sick files), then everything found later, as it happens.
        foreach (var e in fs.Health.Events)
        {
            LogHealthEvent(log, e, fs.Health);
            // What changes how the mount can be used is said where `pmemfs mount` shows it too
            // (a background daemon's stderr reaches the command until the mount is live).
            if (e.Kind is HealthEventKind.UnsafeShutdown or HealthEventKind.WritesRefused or HealthEventKind.ShutDown)
                Console.Error.WriteLine($"pmemfs: mount: warning: {image}: {e.Message}");
        }
        fs.Health.Report = e =>
        {
            LogHealthEvent(log, e, fs.Health);
            ops.HealthEventSeen(e);
        };
        ops.MountIsReadOnly = () => MountTable.FindServing(mountpoint, image)?.ReadOnly ?? false;
        // A clone's source descriptor must be on this mount: its device, read once.
        string? ownDevice = null;
        ops.OwnDevice = () => ownDevice ??= MountTable.FindServing(mountpoint, image)?.Device;
        fs.Mappings = new ProcMapsProbe(mountpoint, image, log);
        // Lease holders: told of recalls through poll() on their descriptor; their deaths end their leases.
        using var holders = new HolderWatch(ops.HolderDied, log);
        ops.Holders = holders;
        fs.Leases.Host = ops;
        string? pidFile = request.PidFile;
        WritePidFile(pidFile);
        using var unmountOnSignal = new SignalUnmount(mountpoint, log);
        try
        {
            mounted();
            // Every worker stays alive once started: a worker that exits when idle and is created
            // again on the next burst costs several times the throughput (FUSE-FACTS).
            int rc = session.Run(request.Options.Threads, request.Options.Threads);
            if (rc != 0) log.Error($"FUSE loop ended with {rc}");
        }
        finally
        {
            // Requests parked for a recall must finish before the session they reply through
            // is destroyed: leases end with the mount, which releases their waits.
            fs.Leases.Dispose();
            if (!ops.WaitForParked(TimeSpan.FromSeconds(5))) log.Warning($"{ops.Parked} request(s) parked for a lease recall did not finish");
            // Also after a lost FUSE_DESTROY (plain umount): persist and close here, once.
            fs.Sync();
            if (pidFile is not null) TryDelete(pidFile);
            log.Info(fs.Health.State == HealthState.ShutDown
                ? $"{image}: FUSE session over; shut down, so nothing written: the next mount replays the journal"
                : $"{image}: FUSE session over; journal checkpointed");
        }
        return 0;
    }

    private static void LogHealthEvent(DaemonLog log, HealthEvent e, FileSystemHealth health)
    {
        if (e.Kind is HealthEventKind.PoisonCleared) log.Info(e.Message);
        else if (e.Kind is HealthEventKind.ShutDown)
            // Once (the state changes once): what failed, and where, for whoever reads the log.
            log.Error($"forced shutdown: {e.Message}; every change now gets EIO and nothing more is written; unmount and mount again (the mount replays the journal)"
                + (health.ShutDownCause is { } cause ? $"\n{cause}" : ""));
        else log.Warning(e.Message);
    }

    /// <summary>
    /// The region is the trust boundary (docs/security.md): one that every user can read or write,
    /// or a file another user owns, is refused unless -o allow_exposed_region says otherwise, and
    /// then the log says it was used.
    /// </summary>
    private void CheckRegionAccess(string image, RegionAccess access)
    {
        if (access.MountRefusal(image, Native.LibC.geteuid()) is not { } refusal) return;
        if (!request.Options.AllowExposedRegion)
            throw new MountException($"{refusal}; -o {MountOptions.AllowExposedRegionName} mounts it anyway");
        log.Warning($"mounting although refused by the access check, because of -o {MountOptions.AllowExposedRegionName}: {refusal}");
    }

    /// <summary>
    /// Always default_permissions (the kernel checks modes exactly as for a local file system)
    /// and, for root, allow_other (a system mount is usable by every user, as a kernel one is).
    /// </summary>
    private static List<string> FuseOptions(string image, MountOptions options)
    {
        var list = new List<string> { "default_permissions" };
        if (!options.NoSubtype) list.Add("subtype=" + MountOptions.Subtype);
        if (!options.FuseOptions.Any(o => o.StartsWith("fsname=", StringComparison.Ordinal))) list.Add("fsname=" + image);
        if (Native.LibC.geteuid() == 0 && !options.FuseOptions.Contains("allow_other")) list.Add("allow_other");
        foreach (var o in options.FuseOptions)
            if (!list.Contains(o)) list.Add(o);
        return list;
    }

    private static void WritePidFile(string? pidFile)
    {
        if (pidFile is null) return;
        RuntimePaths.PrepareDirectoryOf(pidFile);
        File.WriteAllText(pidFile, $"{Environment.ProcessId}\n");
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// SIGTERM, SIGINT and SIGHUP detach the mount (umount2 MNT_DETACH): the kernel stops new
    /// requests, in-flight ones finish, and the loop ends when the last reference goes.
    /// Exiting the session at once would abort in-flight requests with ENOTCONN.
    /// </summary>
    private sealed class SignalUnmount : IDisposable
    {
        private readonly List<PosixSignalRegistration> _registrations = [];

        public SignalUnmount(string mountpoint, DaemonLog log)
        {
            foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGHUP })
            {
                _registrations.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    context.Cancel = true;
                    log.Info($"{context.Signal}: unmounting {mountpoint}");
                    ThreadPool.QueueUserWorkItem(_ => Detach(mountpoint, log));
                }));
            }
        }

        private static void Detach(string mountpoint, DaemonLog log)
        {
            if (Native.LibC.umount2(mountpoint, Native.LibC.MNT_DETACH) == 0) return;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Native.LibC.EINVAL) return; // already unmounted
            // Not root: only fusermount3 may unmount a user's FUSE mount.
            try
            {
                using var p = System.Diagnostics.Process.Start("fusermount3", ["-u", "-z", mountpoint]);
                p.WaitForExit();
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                log.Error($"cannot unmount {mountpoint}: umount2 errno {errno}, fusermount3: {e.Message}");
            }
        }

        public void Dispose()
        {
            foreach (var r in _registrations) r.Dispose();
        }
    }
}

public sealed class MountException(string message) : Exception(message);
