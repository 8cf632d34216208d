using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using PmemFs.Abi;
using PmemFs.Cli.Native;
using PmemFs.Cli.Output;

namespace PmemFs.Cli.Commands;

/// <summary>
/// The daemon's run-time costs as PMEMFS_IOC_DAEMON_STATS answers them, for `pmemfs info MOUNT`:
/// garbage collections, their pauses, allocation, uptime (src/include/pmemfs.h).
/// </summary>
public sealed record DaemonStatsReport(PmemFsDaemonStats Raw)
{
    /// <summary>0 and the daemon's answer, or the errno (ENOTTY: a daemon that does not know the call).</summary>
    public static unsafe int Read(string path, out DaemonStatsReport? report)
    {
        report = null;
        int fd = LibC.open(path, LibC.O_RDONLY | LibC.O_NONBLOCK | LibC.O_CLOEXEC);
        if (fd < 0) return Marshal.GetLastPInvokeError();
        try
        {
            var args = new PmemFsDaemonStats { Version = PmemFsDaemonStatsAbi.Version };
            if (LibC.ioctl(fd, PmemFsDaemonStatsAbi.DaemonStats, &args) < 0) return Marshal.GetLastPInvokeError();
            report = new DaemonStatsReport(args);
            return 0;
        }
        finally { LibC.close(fd); }
    }

    public ulong Collections => Raw.Gen0Collections + Raw.Gen1Collections + Raw.Gen2Collections;

    private static string Ms(ulong ns) => (ns / 1e6).ToString("0.###", CultureInfo.InvariantCulture) + " ms";

    private static string Duration(ulong ns)
    {
        var t = TimeSpan.FromTicks((long)(ns / 100));
        return t.TotalDays >= 1 ? $"{(int)t.TotalDays}d {t:hh\\:mm\\:ss}" : t.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);
    }

    /// <summary>"12 (gen0 10, gen1 2, gen2 0)".</summary>
    public string CollectionsText =>
        $"{Collections} (gen0 {Raw.Gen0Collections}, gen1 {Raw.Gen1Collections}, gen2 {Raw.Gen2Collections})";

    public string PausesText => Collections == 0
        ? "none"
        : $"{Ms(Raw.GcPauseTotalNs)} in total, longest {Ms(Raw.GcPauseMaxNs)}";

    public void WriteText(TextWriter output)
    {
        output.WriteLine("daemon:");
        var d = new FieldWriter(output, nameWidth: 28, indent: "  ");
        d.Field("up for", Duration(Raw.UptimeNs));
        d.Field("garbage collections", CollectionsText);
        d.Field("GC pauses", PausesText);
        d.Field("allocated since start", Units.Bytes((long)Raw.AllocatedBytes));
        d.Field("managed heap in use", Units.Bytes((long)Raw.HeapBytes));
    }

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject("daemon");
        w.WriteNumber("uptimeNs", Raw.UptimeNs);
        w.WriteNumber("gen0Collections", Raw.Gen0Collections);
        w.WriteNumber("gen1Collections", Raw.Gen1Collections);
        w.WriteNumber("gen2Collections", Raw.Gen2Collections);
        w.WriteNumber("gcPauseTotalNs", Raw.GcPauseTotalNs);
        w.WriteNumber("gcPauseMaxNs", Raw.GcPauseMaxNs);
        w.WriteNumber("allocatedBytes", Raw.AllocatedBytes);
        w.WriteNumber("heapBytes", Raw.HeapBytes);
        w.WriteEndObject();
    }
}
