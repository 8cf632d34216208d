using System.Diagnostics;

namespace PmemFs.Cli.Tests;

public sealed class CommandLineTests
{
    [Fact]
    public void HelpListsTheCommandsAndExitsZero()
    {
        var r = Cli.Run("--help");
        Assert.Equal(0, r.ExitCode);
        foreach (string command in new[] { "mkfs", "fsck", "info" }) Assert.Contains(command, r.Out, StringComparison.Ordinal);
        Assert.Contains("Usage:", r.Out, StringComparison.Ordinal);
        Assert.Contains("pmemfs", r.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mkfs", "<IMAGE>")]
    [InlineData("fsck", "<IMAGE>")]
    [InlineData("info", "<IMAGE|PATH>")]
    public void EachCommandHasHelp(string command, string argument)
    {
        var r = Cli.Run(command, "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"pmemfs {command} {argument}", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void NoCommandIsAUsageError()
    {
        var r = Cli.Run();
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("pmemfs: ", r.ErrLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownCommandIsAUsageError()
    {
        var r = Cli.Run("frobnicate", "x");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("frobnicate", r.ErrLines[0], StringComparison.Ordinal);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void AProcessGetsTheExitCodesAndStreamsOfTheInProcessRuns()
    {
        using var image = new TempImage();
        string dll = Path.Combine(AppContext.BaseDirectory, "pmemfs.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing");

        var help = RunProcess(dll, "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("mkfs", help.Out, StringComparison.Ordinal);

        var missing = RunProcess(dll, "fsck", image.Path);
        Assert.Equal(8, missing.ExitCode);
        Assert.Equal($"pmemfs: fsck: {image.Path}: no such file", Assert.Single(missing.ErrLines));

        Assert.Equal(0, RunProcess(dll, "mkfs", "-q", "--size", "16M", image.Path).ExitCode);
        var clean = RunProcess(dll, "fsck", image.Path);
        Assert.True(clean.ExitCode == 0, clean.ToString());
        Assert.Equal("", clean.Err); // stderr is a pipe: no progress drawn
    }

    private static CliResult RunProcess(string dll, params string[] args)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (string a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start) ?? throw new InvalidOperationException("cannot start dotnet");
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return new CliResult(p.ExitCode, stdout, stderr.Result);
    }
}
