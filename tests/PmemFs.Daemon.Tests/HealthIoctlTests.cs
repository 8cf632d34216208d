using System.Text;
using PmemFs.Abi;
using PmemFs.Daemon.Operations;
using PmemFs.Engine;
using PmemFs.Engine.Health;

namespace PmemFs.Daemon.Tests;

/// <summary>PMEMFS_IOC_HEALTH's checks of its struct and its answer, without a mount (docs/health.md, src/include/pmemfs.h).</summary>
public sealed class HealthIoctlTests
{
    private static PmemFsHealth Get() => new() { Version = PmemFsHealthAbi.Version, Op = PmemFsHealthAbi.OpGet };

    private static PmemFsHealth Shutdown(uint flags) => new() { Version = PmemFsHealthAbi.Version, Op = PmemFsHealthAbi.OpShutdown, Flags = flags };

    private static Func<bool> Admin(bool yes) => () => yes;

    [Fact]
    public void GetIsForAnyoneAndNeverAsksForTheCapability()
    {
        Assert.Equal(Errno.Ok, PmemFsOperations.ValidateHealth(Get(), () => throw new InvalidOperationException("GET asked for CAP_SYS_ADMIN")));
    }

    [Theory]
    [InlineData(PmemFsHealthAbi.ShutdownDefault)]
    [InlineData(PmemFsHealthAbi.ShutdownLogFlush)]
    [InlineData(PmemFsHealthAbi.ShutdownNoLogFlush)]
    public void ShutdownWithEachOfXfsFlagsNeedsTheCapability(uint flags)
    {
        Assert.Equal(Errno.Ok, PmemFsOperations.ValidateHealth(Shutdown(flags), Admin(true)));
        Assert.Equal(Errno.EPERM, PmemFsOperations.ValidateHealth(Shutdown(flags), Admin(false)));
    }

    public static TheoryData<string> BadFields() =>
    [
        "version 0", "version 2", "op 0", "op 3", "GET flags 1", "SHUTDOWN flags 3", "SHUTDOWN flags 0x100", "state", "since_ns",
        "reserved1", "reserved2", "reserved3", "reserved4", "reserved5", "reason first byte", "reason last byte",
    ];

    [Theory]
    [MemberData(nameof(BadFields))]
    public void EveryBadFieldIsEinvalForAnAdmin(string what)
    {
        var a = Bad(what);
        Assert.Equal(Errno.EINVAL, PmemFsOperations.ValidateHealth(a, Admin(true)));
    }

    [Theory]
    [MemberData(nameof(BadFields))]
    public void ANonAdminGetsEinvalForWhatTheCallIsAndEpermForAShutdownWhateverItsFlags(string what)
    {
        var a = Bad(what);
        // As XFS_IOC_GOINGDOWN: the capability is checked before the flags are looked at; an
        // unknown version or op is not a shutdown at all.
        bool isShutdown = a.Version == PmemFsHealthAbi.Version && a.Op == PmemFsHealthAbi.OpShutdown;
        Assert.Equal(isShutdown ? Errno.EPERM : Errno.EINVAL, PmemFsOperations.ValidateHealth(a, Admin(false)));
    }

    private static PmemFsHealth Bad(string what)
    {
        var a = what.StartsWith("SHUTDOWN", StringComparison.Ordinal) || what.StartsWith("reserved", StringComparison.Ordinal) || what.StartsWith("reason", StringComparison.Ordinal)
            ? Shutdown(PmemFsHealthAbi.ShutdownLogFlush) : Get();
        switch (what)
        {
            case "version 0": a.Version = 0; break;
            case "version 2": a.Version = 2; break;
            case "op 0": a.Op = 0; break;
            case "op 3": a.Op = 3; break;
            case "GET flags 1": a.Flags = 1; break;
            case "SHUTDOWN flags 3": a.Flags = 3; break;
            case "SHUTDOWN flags 0x100": a.Flags = 0x100; break;
            case "state": a.State = PmemFsPoisonAbi.HealthShutDown; break;
            case "since_ns": a.SinceNs = 1; break;
            case "reserved1": a.Reserved1 = 1; break;
            case "reserved2": a.Reserved2 = 1; break;
            case "reserved3": a.Reserved3 = 1; break;
            case "reserved4": a.Reserved4 = 1; break;
            case "reserved5": a.Reserved5 = 1; break;
            case "reason first byte": a.Reason[0] = (byte)'x'; break;
            case "reason last byte": a.Reason[^1] = 1; break;
            default: throw new ArgumentException(what);
        }
        return a;
    }

    [Fact]
    public void AnAnswerCannotBeSentBackAsIs()
    {
        // The struct as a shut-down mount answered it: state, since and reason are out fields.
        var answer = PmemFsOperations.HealthReply(HealthState.ShutDown, DateTimeOffset.UtcNow, "x");
        answer.Op = PmemFsHealthAbi.OpGet;
        Assert.Equal(Errno.EINVAL, PmemFsOperations.ValidateHealth(answer, Admin(true)));
    }

    [Fact]
    public void AHealthyAnswerIsAllZeroButVersionAndState()
    {
        var r = PmemFsOperations.HealthReply(HealthState.Healthy, null, null);
        Assert.Equal(PmemFsHealthAbi.Version, r.Version);
        Assert.Equal(PmemFsPoisonAbi.HealthOk, r.State);
        Assert.Equal(0u, r.Op);
        Assert.Equal(0u, r.Flags);
        Assert.Equal(0ul, r.SinceNs);
        Assert.False(r.Reason.ContainsAnyExcept((byte)0));
    }

    [Fact]
    public void AShutDownAnswerCarriesStateSinceAndReason()
    {
        var since = new DateTimeOffset(2026, 12, 4, 3, 51, 37, 123, TimeSpan.FromHours(1)).AddTicks(4567);
        var r = PmemFsOperations.HealthReply(HealthState.ShutDown, since, "shut down by the administrator");
        Assert.Equal(PmemFsPoisonAbi.HealthShutDown, r.State);
        Assert.Equal((ulong)(since.ToUnixTimeMilliseconds() * 1_000_000 + 456_700), r.SinceNs);
        Assert.Equal("shut down by the administrator", ReasonText(r));
        Assert.Equal((uint)HealthState.WritesRefused, PmemFsOperations.HealthReply(HealthState.WritesRefused, since, "w").State);
    }

    [Fact]
    public void ALongReasonIsCutAtACharacterBoundaryAndStaysNulTerminated()
    {
        // 446 ASCII bytes and then a 3-byte character: 449 bytes do not fit in 447 plus the NUL.
        string why = new string('a', 446) + "\u20AC" + "tail";
        var r = PmemFsOperations.HealthReply(HealthState.ShutDown, DateTimeOffset.UtcNow, why);
        Assert.Equal(0, r.Reason[^1]);
        string text = ReasonText(r);
        Assert.Equal(new string('a', 446), text);
        Assert.True(Encoding.UTF8.GetByteCount(text) < PmemFsHealthAbi.ReasonBytes);
        // One that fits exactly: 447 bytes and the NUL.
        var exact = PmemFsOperations.HealthReply(HealthState.ShutDown, DateTimeOffset.UtcNow, new string('b', 447));
        Assert.Equal(new string('b', 447), ReasonText(exact));
        // One byte more: cut to 447, the last byte stays the NUL.
        var over = PmemFsOperations.HealthReply(HealthState.ShutDown, DateTimeOffset.UtcNow, new string('c', 448));
        Assert.Equal(0, over.Reason[^1]);
        Assert.Equal(new string('c', 447), ReasonText(over));
    }

    private static string ReasonText(PmemFsHealth r)
    {
        var reason = r.Reason;
        int end = reason.IndexOf((byte)0);
        Assert.True(end >= 0, "reason is not NUL-terminated");
        return Encoding.UTF8.GetString(reason[..end]);
    }
}
