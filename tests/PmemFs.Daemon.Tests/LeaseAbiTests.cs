using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PmemFs.Abi;

namespace PmemFs.Daemon.Tests;

/// <summary>
/// The C# twin (src/PmemFs.Abi) against src/include/pmemfs.h as gcc compiles it: every ioctl
/// number, struct size, field offset and constant. A C program and the daemon must agree byte
/// for byte; a change on one side only fails here.
/// </summary>
public sealed class LeaseAbiTests
{
    private static readonly Lazy<Dictionary<string, ulong>> FromGcc = new(CompileAndRun);

    /// <summary>(C expression, the C# value) pairs: each must print the same number.</summary>
    private static IEnumerable<(string C, ulong CSharp)> Facts()
    {
        (string, ulong) N(string c, ulong v) => (c, v);
        yield return N("PMEMFS_IOC_GET_FLAGS", PmemFsIoctlAbi.GetFlags);
        yield return N("PMEMFS_IOC_SET_FLAGS", PmemFsIoctlAbi.SetFlags);
        yield return N("PMEMFS_IOC_LEASE_ACQUIRE", PmemFsLeaseAbi.LeaseAcquire);
        yield return N("PMEMFS_IOC_LEASE_RELEASE", PmemFsLeaseAbi.LeaseRelease);
        yield return N("PMEMFS_IOC_PIN", PmemFsLeaseAbi.Pin);
        yield return N("PMEMFS_IOC_UNPIN", PmemFsLeaseAbi.Unpin);
        yield return N("PMEMFS_IOC_LEASE_STATUS", PmemFsLeaseAbi.LeaseStatus);
        yield return N("PMEMFS_IOC_LEASE_LIST", PmemFsLeaseAbi.LeaseList);
        yield return N("PMEMFS_IOC_GET_MAP", PmemFsMapAbi.GetMap);
        yield return N("PMEMFS_IOC_PREPARE_WRITE", PmemFsMapAbi.PrepareWrite);
        yield return N("PMEMFS_LEASE_VERSION", PmemFsLeaseAbi.Version);
        yield return N("PMEMFS_LEASE_READ", PmemFsLeaseAbi.ModeRead);
        yield return N("PMEMFS_LEASE_WRITE", PmemFsLeaseAbi.ModeWrite);
        yield return N("PMEMFS_LEASE_ACTIVE", PmemFsLeaseAbi.StateActive);
        yield return N("PMEMFS_LEASE_RECALLED", PmemFsLeaseAbi.StateRecalled);
        yield return N("PMEMFS_LEASE_REVOKED", PmemFsLeaseAbi.StateRevoked);
        yield return N("PMEMFS_LENGTH_TO_END", PmemFsLeaseAbi.LengthToEnd);
        yield return N("PMEMFS_LIST_THIS_FILE", PmemFsLeaseAbi.ListThisFile);
        yield return N("PMEMFS_LEASE_LIST_ENTRIES", PmemFsLeaseAbi.ListEntries);
        yield return N("PMEMFS_MAP_VERSION", PmemFsMapAbi.Version);
        yield return N("PMEMFS_MAP_EXTENTS", PmemFsMapAbi.Extents);
        yield return N("PMEMFS_EXTENT_HOLE", PmemFsMapAbi.ExtentHole);
        yield return N("PMEMFS_EXTENT_UNWRITTEN", PmemFsMapAbi.ExtentUnwritten);
        yield return N("PMEMFS_EXTENT_WRITTEN", PmemFsMapAbi.ExtentWritten);
        yield return N("PMEMFS_EXTENT_SHARED", PmemFsMapAbi.ExtentShared);
        yield return N("PMEMFS_EXTENT_POISONED", PmemFsMapAbi.ExtentPoisoned);
        yield return N("PMEMFS_HEALTH_OK", PmemFsPoisonAbi.HealthOk);
        yield return N("PMEMFS_HEALTH_WRITES_REFUSED", PmemFsPoisonAbi.HealthWritesRefused);
        yield return N("PMEMFS_HEALTH_SHUT_DOWN", PmemFsPoisonAbi.HealthShutDown);
        yield return N("PMEMFS_IOC_POISON", PmemFsPoisonAbi.Poison);
        yield return N("PMEMFS_POISON_VERSION", PmemFsPoisonAbi.Version);
        yield return N("PMEMFS_POISON_ENTRIES", (uint)PmemFsPoisonAbi.Entries);
        yield return N("PMEMFS_POISON_LIST", PmemFsPoisonAbi.OpList);
        yield return N("PMEMFS_POISON_INJECT", PmemFsPoisonAbi.OpInject);
        yield return N("PMEMFS_POISON_CLEAR", PmemFsPoisonAbi.OpClear);
        yield return N("PMEMFS_POISON_QUIET", PmemFsPoisonAbi.FlagQuiet);
        yield return N("PMEMFS_POISON_DISCARD_DATA", PmemFsPoisonAbi.FlagDiscardData);
        yield return N("PMEMFS_PREPARE_EXTEND_SIZE", PmemFsMapAbi.PrepareExtendSize);
        yield return N("PMEMFS_IOC_REGION", PmemFsRegionAbi.Region);
        yield return N("PMEMFS_IOC_BMAP", PmemFsMapAbi.Bmap);
        yield return N("PMEMFS_REGION_VERSION", PmemFsRegionAbi.Version);
        yield return N("PMEMFS_REGION_FILE", PmemFsRegionAbi.KindFile);
        yield return N("PMEMFS_REGION_DEVDAX", PmemFsRegionAbi.KindDeviceDax);
        yield return N("PMEMFS_IOC_CLONE_RANGE", PmemFsCloneAbi.CloneRange);
        yield return N("PMEMFS_CLONE_VERSION", PmemFsCloneAbi.Version);
        yield return N("PMEMFS_CLONE_BLOCK", PmemFsCloneAbi.BlockSize);
        yield return N("PMEMFS_IOC_RMAP", PmemFsRmapAbi.Rmap);
        yield return N("PMEMFS_RMAP_VERSION", PmemFsRmapAbi.Version);
        yield return N("PMEMFS_RMAP_ENTRIES", PmemFsRmapAbi.Entries);
        yield return N("PMEMFS_RMAP_DATA", PmemFsRmapAbi.KindData);
        yield return N("PMEMFS_RMAP_XATTR", PmemFsRmapAbi.KindXattr);
        yield return N("PMEMFS_RMAP_SUPERBLOCK", PmemFsRmapAbi.KindSuperblock);
        yield return N("PMEMFS_RMAP_JOURNAL", PmemFsRmapAbi.KindJournal);
        yield return N("PMEMFS_RMAP_BITMAP", PmemFsRmapAbi.KindBitmap);
        yield return N("PMEMFS_RMAP_INODE_TABLE", PmemFsRmapAbi.KindInodeTable);
        yield return N("PMEMFS_RMAP_DIRENT_TABLE", PmemFsRmapAbi.KindDirentTable);
        yield return N("PMEMFS_RMAP_EXTENT_TABLE", PmemFsRmapAbi.KindExtentTable);
        yield return N("PMEMFS_RMAP_RMAP_TABLE", PmemFsRmapAbi.KindRmapTable);
        yield return N("PMEMFS_RMAP_REFCOUNT", PmemFsRmapAbi.KindRefcount);
        yield return N("PMEMFS_RMAP_UNWRITTEN", PmemFsRmapAbi.FlagUnwritten);
        yield return N("PMEMFS_RMAP_SHARED", PmemFsRmapAbi.FlagShared);
        yield return N("PMEMFS_IOC_HEALTH", PmemFsHealthAbi.Health);
        yield return N("PMEMFS_HEALTH_VERSION", PmemFsHealthAbi.Version);
        yield return N("PMEMFS_IOC_DAEMON_STATS", PmemFsDaemonStatsAbi.DaemonStats);
        yield return N("PMEMFS_DAEMON_STATS_VERSION", PmemFsDaemonStatsAbi.Version);
        yield return N("PMEMFS_HEALTH_REASON_BYTES", (uint)PmemFsHealthAbi.ReasonBytes);
        yield return N("PMEMFS_HEALTH_GET", PmemFsHealthAbi.OpGet);
        yield return N("PMEMFS_HEALTH_SHUTDOWN", PmemFsHealthAbi.OpShutdown);
        yield return N("PMEMFS_SHUTDOWN_DEFAULT", PmemFsHealthAbi.ShutdownDefault);
        yield return N("PMEMFS_SHUTDOWN_LOGFLUSH", PmemFsHealthAbi.ShutdownLogFlush);
        yield return N("PMEMFS_SHUTDOWN_NOLOGFLUSH", PmemFsHealthAbi.ShutdownNoLogFlush);

        foreach (var f in Layout<PmemFsInodeFlags>("pmemfs_inode_flags", PmemFsInodeFlags.Size,
            "version", "reserved0", "set", "clear", "flags", "state", "dax_mode", "granularity", "health", "sick_files", "quarantined_slots")) yield return f;
        foreach (var f in Layout<PmemFsLease>("pmemfs_lease", PmemFsLease.Size,
            "version", "mode", "offset", "length", "flags", "lease_id", "reserved:Reserved1")) yield return f;
        foreach (var f in Layout<PmemFsLeaseRef>("pmemfs_lease_ref", PmemFsLeaseRef.Size, "version", "reserved0", "id", "reserved:Reserved1")) yield return f;
        foreach (var f in Layout<PmemFsPin>("pmemfs_pin", PmemFsPin.Size,
            "version", "reserved0", "lease_id", "offset", "length", "pin_id", "reserved:Reserved1")) yield return f;
        foreach (var f in Layout<PmemFsLeaseStatus>("pmemfs_lease_status", PmemFsLeaseStatus.Size,
            "version", "reserved0", "lease_id", "state", "mode", "offset", "length", "deadline_ns", "remaining_ns", "pins", "reserved1", "reserved:Reserved2")) yield return f;
        foreach (var f in Layout<PmemFsLeaseEntry>("pmemfs_lease_entry", PmemFsLeaseEntry.Size,
            "lease_id", "pin_id", "ino", "offset", "length", "granted_ns", "deadline_ns", "pid", "mode", "state")) yield return f;
        foreach (var f in Layout<PmemFsLeaseList>("pmemfs_lease_list", PmemFsLeaseList.Size,
            "version", "flags", "cursor_lease", "cursor_pin", "count", "more", "now_ns", "reserved:Reserved1", "entries:_entries")) yield return f;
        foreach (var f in Layout<PmemFsExtent>("pmemfs_extent", PmemFsExtent.Size, "file_offset", "phys_offset", "length", "state", "reserved")) yield return f;
        foreach (var f in Layout<PmemFsMap>("pmemfs_map", PmemFsMap.Size,
            "version", "flags", "offset", "length", "next_offset", "count", "reserved0", "file_size", "reserved:Reserved1", "extents:_extents")) yield return f;
        foreach (var f in Layout<PmemFsRegion>("pmemfs_region", PmemFsRegion.Size,
            "version", "kind", "size:RegionSize", "uuid:_uuid", "uuid_offset", "granularity", "reserved:Reserved1", "path:_path")) yield return f;
        foreach (var f in Layout<PmemFsCloneRange>("pmemfs_clone_range", PmemFsCloneRange.Size,
            "version", "src_fd", "src_offset", "length", "dst_offset", "flags", "cloned", "reserved:Reserved1")) yield return f;
        foreach (var f in Layout<PmemFsPoisonRange>("pmemfs_poison_range", PmemFsPoisonRange.Size, "offset", "length")) yield return f;
        foreach (var f in Layout<PmemFsPoison>("pmemfs_poison", PmemFsPoison.Size,
            "version", "op", "flags", "count", "offset", "length", "more", "health_state", "reserved:Reserved1", "ranges:_ranges")) yield return f;
        foreach (var f in Layout<PmemFsHealth>("pmemfs_health", PmemFsHealth.Size,
            "version", "op", "flags", "state", "since_ns", "reserved:Reserved1", "reason:_reason")) yield return f;
        // reserved[5] is Reserved1..5 in C#: each where the C array has it.
        for (int i = 1; i <= 5; i++)
            yield return ($"offsetof(struct pmemfs_health, reserved[{i - 1}])", (ulong)(long)Marshal.OffsetOf<PmemFsHealth>($"Reserved{i}"));
        foreach (var f in Layout<PmemFsDaemonStats>("pmemfs_daemon_stats", PmemFsDaemonStats.Size,
            "version", "reserved0", "uptime_ns", "gc_collections:Gen0Collections", "gc_pause_total_ns:GcPauseTotalNs", "gc_pause_max_ns:GcPauseMaxNs",
            "allocated_bytes", "heap_bytes")) yield return f;
        yield return ("offsetof(struct pmemfs_daemon_stats, gc_collections[1])", (ulong)(long)Marshal.OffsetOf<PmemFsDaemonStats>("Gen1Collections"));
        yield return ("offsetof(struct pmemfs_daemon_stats, gc_collections[2])", (ulong)(long)Marshal.OffsetOf<PmemFsDaemonStats>("Gen2Collections"));
        // reserved[7] is the rest of the 128 bytes after heap_bytes.
        yield return ("offsetof(struct pmemfs_daemon_stats, reserved)", (ulong)(long)Marshal.OffsetOf<PmemFsDaemonStats>("HeapBytes") + 8);
        foreach (var f in Layout<PmemFsRmapEntry>("pmemfs_rmap_entry", PmemFsRmapEntry.Size,
            "physical", "length", "ino", "file_offset", "refs", "kind", "flags", "reserved:Reserved1")) yield return f;
        foreach (var f in Layout<PmemFsRmap>("pmemfs_rmap", PmemFsRmap.Size,
            "version", "flags", "offset", "length", "cursor_physical", "cursor_ino", "cursor_file_offset", "cursor_kind", "count", "more", "reserved0", "entries:_entries")) yield return f;
    }

    /// <summary>
    /// sizeof, and offsetof of each C field against its C# field: "c_name" pairs with the C# field
    /// CName, "c_name:CSharpName" names it (reserved[N] arrays are Reserved1..N in C#).
    /// </summary>
    private static IEnumerable<(string, ulong)> Layout<T>(string cName, int size, params string[] cFields) where T : struct
    {
        Assert.Equal(size, Unsafe.SizeOf<T>());
        yield return ($"sizeof(struct {cName})", (ulong)size);
        foreach (var spec in cFields)
        {
            var parts = spec.Split(':');
            string c = parts[0];
            string cs = parts.Length > 1 ? parts[1] : string.Concat(c.Split('_').Select(w => char.ToUpperInvariant(w[0]) + w[1..]));
            yield return ($"offsetof(struct {cName}, {c})", (ulong)(long)Marshal.OffsetOf<T>(cs));
        }
    }

    [SkippableFact]
    public void EveryNumberSizeOffsetAndConstantMatchesTheHeaderAsGccSeesIt()
    {
        Skip.If(FromGcc.Value.Count == 0, "gcc is not installed");
        var facts = Facts().ToList();
        var wrong = facts.Where(f => !FromGcc.Value.TryGetValue(f.C, out ulong v) || v != f.CSharp)
            .Select(f => $"{f.C}: C {(FromGcc.Value.TryGetValue(f.C, out ulong v) ? $"0x{v:X}" : "missing")}, C# 0x{f.CSharp:X}").ToList();
        Assert.True(wrong.Count == 0, string.Join('\n', wrong));
        Assert.True(facts.Count > 90, $"only {facts.Count} facts compared");
    }

    [Fact]
    public void EveryStructFitsWhatAFuseIoctlCarries()
    {
        // _IOC_SIZE has 14 bits: at most 16383 bytes in and out, and the kernel's FUSE request
        // must fit its max_pages (32 by default): the page-sized lists leave room to spare.
        foreach (uint number in new[] { PmemFsIoctlAbi.GetFlags, PmemFsIoctlAbi.SetFlags, PmemFsLeaseAbi.LeaseAcquire, PmemFsLeaseAbi.LeaseRelease,
            PmemFsLeaseAbi.Pin, PmemFsLeaseAbi.Unpin, PmemFsLeaseAbi.LeaseStatus, PmemFsLeaseAbi.LeaseList, PmemFsMapAbi.GetMap, PmemFsMapAbi.PrepareWrite, PmemFsRegionAbi.Region, PmemFsMapAbi.Bmap, PmemFsCloneAbi.CloneRange, PmemFsRmapAbi.Rmap, PmemFsPoisonAbi.Poison, PmemFsHealthAbi.Health, PmemFsDaemonStatsAbi.DaemonStats })
        {
            uint size = (number >> 16) & 0x3FFF;
            Assert.InRange(size, 32u, 4096u);
            Assert.Equal((uint)'P', (number >> 8) & 0xFF);
        }
        Assert.Equal(PmemFsLeaseList.Size, PmemFsLeaseList.HeaderSize + PmemFsLeaseAbi.ListEntries * PmemFsLeaseEntry.Size);
        Assert.Equal(PmemFsMap.Size, PmemFsMap.HeaderSize + PmemFsMapAbi.Extents * PmemFsExtent.Size);
        Assert.Equal(PmemFsRmap.Size, PmemFsRmap.HeaderSize + PmemFsRmapAbi.Entries * PmemFsRmapEntry.Size);
    }

    /// <summary>Compiles a program that includes pmemfs.h and prints each C expression of <see cref="Facts"/>.</summary>
    private static Dictionary<string, ulong> CompileAndRun()
    {
        if (!File.Exists("/usr/bin/gcc")) return [];
        string dir = Directory.CreateTempSubdirectory("pmemfs-abi-").FullName;
        try
        {
            var src = new System.Text.StringBuilder("#include <stdio.h>\n#include <stddef.h>\n#include \"pmemfs.h\"\nint main(void) {\n");
            foreach (var (c, _) in Facts())
                src.Append($"\tprintf(\"%s=%llu\\n\", \"{c}\", (unsigned long long)({c}));\n");
            src.Append("\treturn 0;\n}\n");
            File.WriteAllText(Path.Combine(dir, "abi.c"), src.ToString());
            string include = Path.Combine(FlagIoctlTestsRoot(), "src", "include");
            Run("/usr/bin/gcc", ["-Wall", "-Werror", "-Wpadded", "-I", include, "-o", Path.Combine(dir, "abi"), Path.Combine(dir, "abi.c")]);
            return Run(Path.Combine(dir, "abi"), []).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => ulong.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private static string Run(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        string errors = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} failed ({p.ExitCode}):\n{errors}");
        return output;
    }

    private static string FlagIoctlTestsRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PmemFs.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("PmemFs.sln not found above the test directory");
    }
}
