using PmemFs.Cli.Flags;
using static PmemFs.Abi.PmemFsIoctlAbi;

namespace PmemFs.Cli.Tests;

public sealed class FlagExpressionTests
{
    [Theory]
    [InlineData("+i", FlImmutable)]
    [InlineData("+a", FlAppend)]
    [InlineData("+A", FlNoAtime)]
    [InlineData("+S", FlSync)]
    [InlineData("+d", FlNoDump)]
    [InlineData("+x", FlDax)]
    [InlineData("+ia", FlImmutable | FlAppend)]
    [InlineData("+iaASdx", FlAll & ~FlDaxImmutable)]
    [InlineData("+immutable", FlImmutable)]
    [InlineData("+append", FlAppend)]
    [InlineData("+noatime", FlNoAtime)]
    [InlineData("+sync", FlSync)]
    [InlineData("+nodump", FlNoDump)]
    [InlineData("+dax_immutable", FlDaxImmutable)]
    [InlineData("+dax,dax_immutable", FlDax | FlDaxImmutable)]
    [InlineData("-immutable,append", FlImmutable | FlAppend)]
    public void EachLetterAndLongNameNamesItsFlag(string mode, ulong expected) =>
        Assert.Equal(expected, FlagExpression.ParseFlags(mode));

    [Fact]
    public void PlusDaxIsTheDaxFlagNotTheLettersDAX() =>
        Assert.Equal(FlDax, FlagExpression.ParseFlags("+dax"));

    [Fact]
    public void LettersThatAreNotALongNameAreReadOneByOne() =>
        Assert.Equal(FlNoDump | FlAppend | FlDax | FlImmutable, FlagExpression.ParseFlags("+daxi"));

    [Fact]
    public void PlusAndMinusCombineIntoOneSetAndOneClear()
    {
        var e = FlagExpression.Parse(["+x", "-i", "+dax_immutable", "-A"]);
        Assert.Equal(FlDax | FlDaxImmutable, e.Set);
        Assert.Equal(FlImmutable | FlNoAtime, e.Clear);
    }

    [Fact]
    public void EqualsSetsExactlyThoseFlagsAndClearsAllOthers()
    {
        var e = FlagExpression.Parse(["=dax,dax_immutable"]);
        Assert.Equal(FlDax | FlDaxImmutable, e.Set);
        Assert.Equal(FlAll & ~(FlDax | FlDaxImmutable), e.Clear);
    }

    [Fact]
    public void EqualsAloneClearsEveryFlag()
    {
        var e = FlagExpression.Parse(["="]);
        Assert.Equal(0UL, e.Set);
        Assert.Equal(FlAll, e.Clear);
    }

    [Theory]
    [InlineData("+q", "unknown flag letter 'q' in '+q'")]
    [InlineData("+iq", "unknown flag letter 'q' in '+iq'")]
    [InlineData("+foo", "unknown flag 'foo' in '+foo'")]
    [InlineData("+dax,bogus", "unknown flag 'bogus' in '+dax,bogus'")]
    [InlineData("+dax,", "empty flag name in '+dax,'")]
    [InlineData("+DAX", "unknown flag letter 'D' in '+DAX'")]
    [InlineData("+", "no flags after '+'")]
    [InlineData("-", "no flags after '-'")]
    public void AnUnknownFlagIsNamedInTheError(string mode, string message)
    {
        var e = Assert.Throws<FlagUsageException>(() => FlagExpression.Parse([mode]));
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EqualsMixedWithPlusIsRefused()
    {
        var e = Assert.Throws<FlagUsageException>(() => FlagExpression.Parse(["=x", "+i"]));
        Assert.Equal("'=' is incompatible with '+' and '-'", e.Message);
    }

    [Fact]
    public void AFlagBothSetAndClearedIsRefused()
    {
        var e = Assert.Throws<FlagUsageException>(() => FlagExpression.Parse(["+x", "-dax"]));
        Assert.Equal("flag dax both set and cleared", e.Message);
    }

    [Fact]
    public void NoModeAtAllIsRefused() =>
        Assert.Throws<FlagUsageException>(() => FlagExpression.Parse([]));
}
