using PmemFs.Cli.Flags;
using static PmemFs.Abi.PmemFsIoctlAbi;

namespace PmemFs.Cli.Tests;

public sealed class ChattrArgumentsTests
{
    [Fact]
    public void MinusLetterClearsAFlagAndIsNotAnOption()
    {
        var a = ChattrArguments.Parse(["-i", "f"]);
        Assert.Equal(FlImmutable, a.Change.Clear);
        Assert.Equal(0UL, a.Change.Set);
        Assert.Equal(["f"], a.Files);
        Assert.False(a.Recursive);
    }

    [Fact]
    public void OptionsAndFlagLettersShareACluster()
    {
        var a = ChattrArguments.Parse(["-RVf", "-Ri", "+x", "d"]);
        Assert.True(a.Recursive);
        Assert.True(a.Verbose);
        Assert.True(a.Silent);
        Assert.Equal(FlImmutable, a.Change.Clear);
        Assert.Equal(FlDax, a.Change.Set);
    }

    [Fact]
    public void LongNamesAfterMinusClearThoseFlags()
    {
        var a = ChattrArguments.Parse(["-dax,dax_immutable", "f"]);
        Assert.Equal(FlDax | FlDaxImmutable, a.Change.Clear);
    }

    [Fact]
    public void EverythingFromTheFirstFileOnIsAFile()
    {
        var a = ChattrArguments.Parse(["+i", "f", "-R", "+x"]);
        Assert.Equal(["f", "-R", "+x"], a.Files);
        Assert.False(a.Recursive);
        Assert.Equal(FlImmutable, a.Change.Set);
    }

    [Fact]
    public void DoubleDashEndsTheModes()
    {
        var a = ChattrArguments.Parse(["+i", "--", "-file"]);
        Assert.Equal(["-file"], a.Files);
    }

    [Theory]
    [InlineData(new[] { "+i" }, "missing FILE")]
    [InlineData(new[] { "-R", "f" }, "missing flags (+FLAGS, -FLAGS or =FLAGS)")]
    [InlineData(new[] { "--bogus", "+i", "f" }, "unknown option '--bogus'")]
    public void AWrongCommandLineSaysWhat(string[] args, string message)
    {
        var e = Assert.Throws<FlagUsageException>(() => ChattrArguments.Parse(args));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void AnUnknownLetterInAnOptionClusterNamesTheArgumentAsTyped()
    {
        var e = Assert.Throws<FlagUsageException>(() => ChattrArguments.Parse(["-Rq", "f"]));
        Assert.StartsWith("unknown flag letter 'q' in '-Rq'", e.Message, StringComparison.Ordinal);
    }
}
