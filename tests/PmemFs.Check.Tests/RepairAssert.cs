namespace PmemFs.Check.Tests;

/// <summary>What every repair test asks of fsck --repair, and how its report is shown when it fails.</summary>
public static class RepairAssert
{
    /// <summary>Repairs: something changed, clean afterwards, and a second repair changes nothing.</summary>
    public static RepairReport RepairsCleanly(TestImage img)
    {
        var report = FsckRepair.Repair(img.Media, new FsckOptions());
        Assert.True(report.Changed, "expected the repair to change something");
        Assert.True(report.After.IsClean, "not clean after repair:\n" + Render(report));
        ReportAssert.Clean(img.Check());
        var again = FsckRepair.Repair(img.Media, new FsckOptions());
        Assert.True(again.Changes.Count == 0, "a second repair changed more:\n" + Render(again));
        return report;
    }

    /// <summary>The change at <paramref name="where"/> whose message contains <paramref name="text"/>; fails when there is none.</summary>
    public static RepairChange Has(RepairReport report, string where, string text)
    {
        var c = report.Changes.FirstOrDefault(c => c.Where == where && c.Message.Contains(text, StringComparison.Ordinal));
        Assert.True(c is not null, $"expected a change at \"{where}\" containing \"{text}\", got:\n" + Render(report));
        return c!;
    }

    public static string Render(RepairReport report) =>
        string.Join("\n", report.Changes.Select(c => "  change: " + c)) + "\n" + ReportAssert.Render(report.After);
}
