namespace PmemFs.Cli.Tests;

/// <summary>pmemfs crashtest's reproducer options: a point or state that does not exist is an error, never "0 failures".</summary>
public sealed class CrashTestCommandTests
{
    [Fact]
    public void AReproducerForACrashPointThatDoesNotExistFails()
    {
        var r = Cli.Run("crashtest", "--workload", "symlink", "--point", "100000", "--quiet");
        Assert.Equal(1, r.ExitCode);
        Assert.Matches(@"^pmemfs: crashtest: symlink seed 1 has crash points 0\.\.\d+, not 100000\n$", r.Err);
    }

    [Fact]
    public void AReproducerForAStateThatDoesNotExistFails()
    {
        // Point 0 of a fresh workload has few lines in doubt: enumerated, with a handful of states.
        var r = Cli.Run("crashtest", "--workload", "symlink", "--point", "0", "--state", "1000000000", "--quiet");
        Assert.Equal(1, r.ExitCode);
        Assert.Matches(@"^pmemfs: crashtest: symlink seed 1 crash point 0 has states 0\.\.\d+, not 1000000000\n$", r.Err);
    }

    [Fact]
    public void AReproducerForAnExistingStateChecksExactlyOneState()
    {
        var r = Cli.Run("crashtest", "--workload", "symlink", "--point", "0", "--state", "0", "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("\"states\": 1,", r.Out, StringComparison.Ordinal);
        Assert.Contains("\"crashPointsChecked\": 1,", r.Out, StringComparison.Ordinal);
    }
}
