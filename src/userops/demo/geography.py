"""Where demo users live: mainland provinces and their larger cities, weighted by population.

Operators compare regions ("northern users prefer ..."), so the demo needs real names in the
shape their own data has: short province names (广东, not 广东省) and short city names (广州).
Province weights are the 2020 census populations (万人); city weights are rough city
populations inside their province. Only the larger cities are listed, which overweights them a
little, as an e-commerce audience does anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

# (province, census population in 万, "city:weight city:weight ...").
# fmt: off
_TABLE: Final[tuple[tuple[str, int, str], ...]] = (
    ("广东", 12601, "广州:1868 深圳:1756 东莞:1047 佛山:950 湛江:698 茂名:617 "
        "惠州:604 揭阳:558 汕头:550 江门:480 中山:442 珠海:244"),
    ("山东", 10153, "临沂:1102 青岛:1007 潍坊:939 济南:920 菏泽:880 济宁:836 "
        "烟台:710 聊城:595 德州:561 泰安:547 淄博:470 威海:291"),
    ("河南", 9937, "郑州:1260 南阳:971 周口:903 商丘:782 洛阳:706 驻马店:701 "
        "新乡:625 信阳:623 安阳:548 平顶山:499 开封:482 许昌:438"),
    ("江苏", 8475, "苏州:1275 南京:931 徐州:908 南通:773 无锡:746 盐城:671 "
        "常州:528 宿迁:499 连云港:460 扬州:456 淮安:456 泰州:451 "
        "镇江:321"),
    ("四川", 8367, "成都:2094 南充:561 达州:539 绵阳:487 宜宾:459 泸州:425 "
        "乐山:316"),
    ("河北", 7461, "保定:1154 石家庄:1124 邯郸:941 唐山:772 沧州:730 邢台:711 "
        "廊坊:546 衡水:421 张家口:412 承德:335 秦皇岛:314"),
    ("湖南", 6644, "长沙:1005 衡阳:665 邵阳:657 永州:529 常德:528 岳阳:505 "
        "郴州:467 怀化:459 株洲:390 湘潭:273"),
    ("浙江", 6457, "杭州:1194 温州:957 宁波:940 金华:705 台州:662 嘉兴:540 "
        "绍兴:527 湖州:337"),
    ("安徽", 6103, "合肥:937 阜阳:820 宿州:532 亳州:500 六安:440 安庆:417 "
        "滁州:399 芜湖:364 蚌埠:330"),
    ("湖北", 5775, "武汉:1232 黄冈:588 襄阳:526 荆州:523 孝感:427 宜昌:402 "
        "十堰:321"),
    ("广西", 5013, "南宁:874 玉林:580 桂林:493 贵港:432 柳州:416 百色:357"),
    ("云南", 4721, "昆明:846 曲靖:576 昭通:509 红河:447 大理:334"),
    ("江西", 4519, "赣州:897 上饶:649 南昌:626 宜春:500 九江:460 吉安:446"),
    ("辽宁", 4259, "沈阳:907 大连:745 鞍山:333 锦州:270"),
    ("福建", 4154, "泉州:878 福州:829 厦门:516 漳州:505"),
    ("陕西", 3953, "西安:1218 渭南:469 咸阳:396 榆林:362 宝鸡:332"),
    ("贵州", 3856, "毕节:690 遵义:660 贵阳:598 铜仁:329"),
    ("山西", 3492, "太原:530 运城:477 临汾:397 长治:318 大同:310"),
    ("重庆", 3205, "重庆:1"),
    ("黑龙江", 3185, "哈尔滨:1001 齐齐哈尔:407 绥化:376 大庆:278"),
    ("新疆", 2585, "喀什:449 乌鲁木齐:405 昌吉:161"),
    ("甘肃", 2502, "兰州:436 天水:298 定西:252"),
    ("上海", 2487, "上海:1"),
    ("吉林", 2407, "长春:906 吉林:362 四平:181"),
    ("内蒙古", 2405, "赤峰:404 呼和浩特:345 包头:271 鄂尔多斯:215"),
    ("北京", 2189, "北京:1"),
    ("天津", 1387, "天津:1"),
    ("海南", 1008, "海口:287 三亚:103 儋州:95"),
    ("宁夏", 720, "银川:286 吴忠:138 石嘴山:75"),
    ("青海", 592, "西宁:247 海东:136"),
    ("西藏", 365, "拉萨:87 日喀则:80"),
)
# fmt: on
PROVINCES: Final[tuple[tuple[str, int, tuple[tuple[str, int], ...]], ...]] = tuple(
    (
        province,
        pop,
        tuple((c, int(w)) for c, _, w in (pair.partition(":") for pair in cities.split())),
    )
    for province, pop, cities in _TABLE
)

# First-tier cities: more iOS devices, more spending power.
TIER1_CITIES: Final[frozenset[str]] = frozenset({"北京", "上海", "广州", "深圳", "杭州"})


@dataclass(frozen=True, slots=True)
class CityTable:
    """Every listed city once, with its province and its share of all users."""

    province: tuple[str, ...]
    city: tuple[str, ...]
    weight: npt.NDArray[np.float64]
    tier1: npt.NDArray[np.bool_]


def city_table() -> CityTable:
    """Flatten PROVINCES: a city's weight is its province's share times its share inside."""
    provinces: list[str] = []
    cities: list[str] = []
    weights: list[float] = []
    total = sum(pop for _, pop, _ in PROVINCES)
    for province, pop, city_list in PROVINCES:
        inside = sum(w for _, w in city_list)
        for city, w in city_list:
            provinces.append(province)
            cities.append(city)
            weights.append(pop / total * w / inside)
    weight = np.asarray(weights, dtype=np.float64)
    tier1 = np.asarray([c in TIER1_CITIES for c in cities], dtype=np.bool_)
    return CityTable(tuple(provinces), tuple(cities), weight / weight.sum(), tier1)
