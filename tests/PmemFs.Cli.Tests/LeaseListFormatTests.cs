using PmemFs.Cli.Commands;
using PmemFs.Cli.Leases;

namespace PmemFs.Cli.Tests;

/// <summary>`pmemfs lease list` output, from reports (the mount tests run it for real).</summary>
public sealed class LeaseListFormatTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    private static readonly LeaseReport[] Leases =
    [
        new(1, 2, 4242, "holder", "/mnt/p/f", "write", "recalled", 0, null, Now.AddSeconds(-5), Now.AddSeconds(1.5),
            [new PinReport(3, 4096, 8192), new PinReport(4, 65536, null)]),
        new(5, 9, 77, null, null, "read", "active", 8192, 4096, Now, null, []),
    ];

    [Fact]
    public void EachLeaseIsOneLineWithItsPinsRangesAndDeadline()
    {
        var text = new StringWriter();
        LeaseCommand.WriteText(text, Leases, Now);
        var lines = text.ToString().TrimEnd().Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^ID\s+PID\s+COMMAND\s+MODE\s+STATE\s+DEADLINE\s+RANGE\s+PINS\s+INODE\s+PATH$", lines[0]);
        Assert.Matches(@"^1\s+4242\s+holder\s+write\s+recalled\s+revoked in 1\.5 s\s+0-end\s+4096-12287,65536-end\s+2\s+/mnt/p/f$", lines[1]);
        Assert.Matches(@"^5\s+77\s+\?\s+read\s+active\s+-\s+8192-12287\s+-\s+9\s+\?$", lines[2]);
    }

    [Fact]
    public void NoLeasesSaysSo()
    {
        var text = new StringWriter();
        LeaseCommand.WriteText(text, [], Now);
        Assert.Equal("no leases", text.ToString().Trim());
    }

    [Fact]
    public void JsonHasEveryFieldWithNullForToTheEndAndUnknowns()
    {
        var text = new StringWriter();
        Output.Json.Write(text, w => LeaseCommand.WriteJson(w, "/mnt/p", Leases, Now));
        using var doc = System.Text.Json.JsonDocument.Parse(text.ToString());
        var leases = doc.RootElement.GetProperty("leases");
        Assert.Equal("/mnt/p", doc.RootElement.GetProperty("mount").GetString());
        Assert.Equal(2, leases.GetArrayLength());
        var first = leases[0];
        Assert.Equal(4242, first.GetProperty("pid").GetInt32());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, first.GetProperty("length").ValueKind);
        Assert.Equal(Now.AddSeconds(1.5), first.GetProperty("deadline").GetDateTimeOffset());
        Assert.Equal(2, first.GetProperty("pins").GetArrayLength());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, first.GetProperty("pins")[1].GetProperty("length").ValueKind);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, leases[1].GetProperty("command").ValueKind);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, leases[1].GetProperty("deadline").ValueKind);
    }
}
