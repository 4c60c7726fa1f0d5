from django_durable import register


def trivial(i):
    return i


@register.workflow()
def bench_steps(ctx, n: int):
    for i in range(n):
        ctx.step(trivial, i)
    return n
