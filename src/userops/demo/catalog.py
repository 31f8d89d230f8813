"""The demo shop's catalogue: categories, items with prices in fen, and search queries.

Prices are integers in fen (分) everywhere inside the generator and become yuan with two
decimals only when written, so revenue always equals the sum of its lines exactly. Brand names
are invented, so the demo never seems to speak for a real company.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Category:
    """A top-level category and how it sells: typical price, and who looks at it most."""

    name: str
    median_yuan: float
    price_spread: float  # sigma of log(price)
    popularity: float  # share of views from users without a favourite here
    affinity_female: float  # weight as a favourite category for women
    affinity_male: float
    products: tuple[str, ...]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# fmt: off
CATEGORIES: Final[tuple[Category, ...]] = (
    # name, median price (yuan), price spread, popularity, affinity female, male, products
    Category("服饰鞋包", 159, 0.55, 0.22, 0.3, 0.14, _words(
        "纯棉T恤 牛仔裤 连衣裙 羽绒服 运动鞋 帆布鞋 "
        "双肩包 卫衣 衬衫 针织开衫 通勤包 休闲裤")),
    Category("美妆个护", 129, 0.5, 0.15, 0.3, 0.04, _words(
        "口红 保湿面霜 精华液 洗面奶 防晒霜 面膜 "
        "洗发水 身体乳 眼影盘 粉底液 香水 电动牙刷")),
    Category("食品生鲜", 49, 0.5, 0.18, 0.1, 0.12, _words(
        "坚果礼盒 挂耳咖啡 纯牛奶 零食大礼包 五常大米 橄榄油 "
        "车厘子 原切牛排 螺蛳粉 龙井绿茶 燕麦片 自热火锅")),
    Category("数码家电", 499, 0.8, 0.13, 0.06, 0.34, _words(
        "蓝牙耳机 智能手表 充电宝 机械键盘 扫地机器人 空气炸锅 "
        "吹风机 电饭煲 平板电脑 显示器 智能音箱 投影仪")),
    Category("母婴用品", 119, 0.6, 0.08, 0.1, 0.04, _words(
        "纸尿裤 婴儿奶粉 儿童绘本 婴儿湿巾 "
        "儿童餐椅 积木玩具 婴儿推车 儿童保温杯")),
    Category("家居日用", 69, 0.6, 0.12, 0.08, 0.08, _words(
        "床上四件套 收纳箱 抽纸 洗衣液 保温杯 "
        "香薰蜡烛 乳胶枕 拖把 毛巾 餐具套装")),
    Category("运动户外", 189, 0.7, 0.07, 0.04, 0.16, _words(
        "瑜伽垫 跑步鞋 露营帐篷 哑铃 骑行服 "
        "登山包 速干T恤 跳绳 羽毛球拍")),
    Category("图书文娱", 39, 0.45, 0.05, 0.02, 0.08, _words(
        "长篇小说 漫画 历史读物 考试辅导 英语词汇书 "
        "文具套装 手账本 拼图 桌游")),
)
# fmt: on

BRANDS: Final = _words("优品 木禾 初见 山野 极光 小鹿 栖木 橙意 青柚 拾光 云朵 若水")
VARIANTS: Final = _words("经典款 升级版 标准装 礼盒装 两件装 大容量 轻薄款 加厚款")
QUERY_MODIFIERS: Final[tuple[str, ...]] = ("", "", "", " 推荐", " 便宜", " 正品", " 新款", " 包邮")
ITEMS_PER_CATEGORY: Final = 60


@dataclass(frozen=True, slots=True)
class Catalog:
    """Items sorted by category; `cdf` draws an item of category c from u in [c, c + 1)."""

    item_id: tuple[str, ...]
    name: tuple[str, ...]
    brand: tuple[str, ...]
    category: npt.NDArray[np.int64]  # index into CATEGORIES
    price_fen: npt.NDArray[np.int64]
    cdf: npt.NDArray[np.float64]  # category index + cumulative popularity inside the category
    queries: tuple[str, ...]
    query_category: npt.NDArray[np.int64]
    query_cdf: npt.NDArray[np.float64]  # same trick as `cdf`, for queries

    @property
    def size(self) -> int:
        return len(self.item_id)

    def pick_items(
        self, category: npt.NDArray[np.int64], u: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int64]:
        """One item per draw, popular items more often (a Zipf-like head inside each category)."""
        idx = np.searchsorted(self.cdf, category + u, side="right")
        return np.minimum(idx, self.size - 1).astype(np.int64)

    def pick_queries(
        self, category: npt.NDArray[np.int64], u: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int64]:
        idx = np.searchsorted(self.query_cdf, category + u, side="right")
        return np.minimum(idx, len(self.queries) - 1).astype(np.int64)


def _pretty_price_fen(raw_yuan: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Shop prices end the way shops price: 9.90, 59.00, 64.90, 129.00, 1299.00."""
    yuan = np.maximum(raw_yuan, 3.0)
    whole = np.round(yuan)
    fen = np.where(
        yuan < 20,
        np.floor(yuan) * 100 + 90,
        np.where(
            yuan < 200,
            whole * 100 - np.where(whole % 2 == 1, 10, 0),
            np.round(yuan / 10) * 1000 - 100,
        ),
    )
    return fen.astype(np.int64)


def build_catalog(rng: np.random.Generator) -> Catalog:
    """Sixty items per category with unique names, log-normal prices and Zipf popularity."""
    item_ids: list[str] = []
    names: list[str] = []
    brands: list[str] = []
    cats: list[int] = []
    prices: list[npt.NDArray[np.int64]] = []
    cdf_parts: list[npt.NDArray[np.float64]] = []
    queries: list[str] = []
    query_cats: list[int] = []
    query_cdf_parts: list[npt.NDArray[np.float64]] = []
    for c, cat in enumerate(CATEGORIES):
        combos = len(BRANDS) * len(cat.products) * len(VARIANTS)
        picks = rng.choice(combos, size=ITEMS_PER_CATEGORY, replace=False)
        for p in picks.tolist():
            brand = BRANDS[p % len(BRANDS)]
            product = cat.products[(p // len(BRANDS)) % len(cat.products)]
            variant = VARIANTS[p // (len(BRANDS) * len(cat.products))]
            item_ids.append(f"SKU{100001 + len(item_ids)}")
            names.append(f"{brand}{product} {variant}")
            brands.append(brand)
            cats.append(c)
        raw = cat.median_yuan * np.exp(rng.normal(0.0, cat.price_spread, ITEMS_PER_CATEGORY))
        prices.append(_pretty_price_fen(raw))
        weight = 1.0 / np.arange(1, ITEMS_PER_CATEGORY + 1) ** 0.9
        weight = weight[rng.permutation(ITEMS_PER_CATEGORY)]
        cdf_parts.append(c + np.cumsum(weight) / weight.sum())
        cat_queries = [f"{prod}{mod}" for prod in cat.products for mod in QUERY_MODIFIERS[:3]]
        cat_queries += [f"{prod}{mod}" for prod in cat.products[:4] for mod in QUERY_MODIFIERS[3:]]
        cat_queries = sorted(set(cat_queries), key=cat_queries.index)
        qweight = 1.0 / np.arange(1, len(cat_queries) + 1) ** 0.8
        queries += cat_queries
        query_cats += [c] * len(cat_queries)
        query_cdf_parts.append(c + np.cumsum(qweight) / qweight.sum())
    cdf = np.concatenate(cdf_parts)
    query_cdf = np.concatenate(query_cdf_parts)
    # Rounding can leave a category's last bound a hair under c + 1; pin it.
    ends = np.r_[np.flatnonzero(np.diff(np.asarray(cats))), len(cats) - 1]
    cdf[ends] = np.arange(1, len(CATEGORIES) + 1)
    qc = np.asarray(query_cats)
    query_cdf[np.r_[np.flatnonzero(np.diff(qc)), len(qc) - 1]] = np.arange(1, len(CATEGORIES) + 1)
    return Catalog(
        item_id=tuple(item_ids),
        name=tuple(names),
        brand=tuple(brands),
        category=np.asarray(cats, dtype=np.int64),
        price_fen=np.concatenate(prices),
        cdf=cdf,
        queries=tuple(queries),
        query_category=qc.astype(np.int64),
        query_cdf=query_cdf,
    )
